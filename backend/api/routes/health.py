"""Health endpoints (public): overall health and the scheduler view."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend import __version__
from backend.api.deps import CtxDep
from backend.api.schemas.health import HealthResponse, SchedulerHealthResponse
from backend.context import AppContext

router = APIRouter(tags=["health"])


def health_snapshot(ctx: AppContext) -> HealthResponse:
    reasons: list[str] = []
    for name, check in ctx.health_checks.items():
        reasons += [f"{name}: {reason}" for reason in check()]
    kill_switch = None
    guard = ctx.services.get("risk_guard")
    if guard is not None:
        kill_switch = bool(guard.kill_switch_enabled())
    snapshot = ctx.runner.snapshot()
    if not ctx.health.reachable:
        status = "unavailable"
        reasons.insert(0, f"database: {ctx.health.error}")
    elif ctx.read_only:
        status = "read_only"
    else:
        status = "degraded" if reasons else "ok"
    settings = ctx.settings.current
    return HealthResponse(
        status=status,
        version=__version__,
        uptime_seconds=round((ctx.clock() - ctx.started_at).total_seconds(), 3),
        environment=settings.app.env.value,
        database={"reachable": ctx.health.reachable, "checked_at": ctx.health.checked_at, "error": ctx.health.error},
        admin_auth="enabled" if settings.app.admin_auth_enabled else "disabled",
        read_only=ctx.read_only,
        kill_switch=kill_switch,
        reasons=reasons,
        scheduler={
            "running": snapshot["running"],
            "paused": snapshot["paused"],
            "role": snapshot["role"],
            "jobs": {job_id: (job["last_run"] or {}).get("status") for job_id, job in snapshot["jobs"].items()},
        },
    )


def scheduler_health(ctx: AppContext) -> SchedulerHealthResponse:
    snapshot = ctx.runner.snapshot()
    status, errors = ctx.runner.overall_status()
    return SchedulerHealthResponse(
        status=status,  # type: ignore[arg-type]
        running=snapshot["running"],
        paused=snapshot["paused"],
        role=snapshot["role"],
        symbols=ctx.settings.current.scheduler.symbols,
        jobs=snapshot["jobs"],
        errors=errors,
    )


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The database is unreachable."}},
)
async def get_health(ctx: CtxDep) -> HealthResponse | JSONResponse:
    """Service health: database, admin auth mode, kill switch, scheduler summary."""
    body = health_snapshot(ctx)
    if body.status == "unavailable":
        return JSONResponse(status_code=503, content=body.model_dump(mode="json"))
    return body


@router.get("/health/scheduler", response_model=SchedulerHealthResponse)
async def get_scheduler_health(ctx: CtxDep) -> SchedulerHealthResponse:
    """Scheduler health: each job's trigger, next and last run, errors, configured symbols."""
    return scheduler_health(ctx)
