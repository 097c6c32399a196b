"""Health endpoints (public): overall health and the scheduler view."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from backend import __version__
from backend.api.deps import CtxDep
from backend.api.lean import json_response, lean
from backend.api.public import error_kind, public_errors, public_execution, public_job_details, public_reason
from backend.api.schemas.health import HealthResponse, SchedulerHealthResponse
from backend.context import AppContext

router = APIRouter(tags=["health"])


def health_snapshot(ctx: AppContext) -> dict[str, Any]:
    """The /health body as plain data, shaped like HealthResponse.

    Built by hand rather than through the pydantic model: /health is polled by load balancers and
    must cost little more than a static answer (see the API benchmark); a test checks the shape
    against HealthResponse.
    """
    reasons: list[str] = []
    for name, check in ctx.health_checks.items():
        reasons += [f"{name}: {reason}" for reason in check()]
    for job_id, problem in ctx.runner.problems().items():
        reasons.append(f"job {job_id}: {problem}")
    describe = getattr(ctx.services.get("predictor"), "describe", None)
    model = describe() if callable(describe) else None
    if model is not None and model.get("reason"):
        model = {**model, "reason": error_kind(model["reason"])}
    retrain = ctx.services.get("model_retrain")
    if model is not None and retrain is not None:
        model["challenger"] = retrain.health()  # in memory: /health stays one cheap answer
    guard = ctx.services.get("risk_guard")
    kill_switch = bool(guard.kill_switch_enabled()) if guard is not None else None
    probe = ctx.health
    if not probe.reachable:
        status = "unavailable"
        reasons.insert(0, f"database: {probe.error}")
    elif ctx.read_only:
        status = "read_only"
    else:
        status = "degraded" if reasons else "ok"
    # public: the failing part and the kind of error; the details are in the log and admin routes
    reasons = [public_reason(reason) for reason in reasons]
    settings = ctx.settings.current
    runner = ctx.runner
    return {
        "status": status,
        "version": __version__,
        "uptime_seconds": round((ctx.clock() - ctx.started_at).total_seconds(), 3),
        "environment": settings.app.env.value,
        "database": {
            "reachable": probe.reachable,
            "checked_at": probe.checked_at.isoformat() if probe.checked_at else None,
            "error": error_kind(probe.error) if probe.error else None,
        },
        "admin_auth": "enabled" if settings.app.admin_auth_enabled else "disabled",
        "read_only": ctx.read_only,
        "kill_switch": kill_switch,
        "reasons": reasons,
        "model": model,
        "scheduler": {
            "running": runner.running,
            "paused": runner.paused,
            "role": runner.role,
            "jobs": runner.summary(),
        },
    }


def scheduler_health(ctx: AppContext, *, public: bool = False) -> SchedulerHealthResponse:
    """The scheduler view; ``public`` (for /health/scheduler) keeps error kinds and no amounts but
    the gross exposure, the admin /scheduler/status has everything."""
    snapshot = ctx.runner.snapshot()
    status, errors = ctx.runner.overall_status()
    execution = ctx.runner.details("execution-rebalance") or None
    jobs = snapshot["jobs"]
    if public:
        errors, execution = public_errors(errors), public_execution(execution)
        jobs = {job_id: _public_job(job_id, job) for job_id, job in jobs.items()}
    return SchedulerHealthResponse(
        status=status,
        running=snapshot["running"],
        paused=snapshot["paused"],
        role=snapshot["role"],
        symbols=ctx.settings.current.scheduler.symbols,
        jobs=jobs,
        errors=errors,
        execution=execution,
    )


def _public_job(job_id: str, job: Any) -> Any:
    if not isinstance(job, dict):
        return job
    if isinstance(job.get("details"), dict):
        job = {**job, "details": public_job_details(job_id, job["details"])}
    last = job.get("last_run")
    if not isinstance(last, dict):
        return job
    last = {**last, "error": error_kind(last["error"]) if last.get("error") else None}
    if isinstance(last.get("errors"), dict):
        last["errors"] = {key: error_kind(value) for key, value in last["errors"].items()}
    return {**job, "last_run": last}


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The database is unreachable."}},
)
@lean
async def get_health(request: Request) -> Response:
    """Service health: database, admin auth mode, kill switch, scheduler summary."""
    body = health_snapshot(request.app.state.ctx)
    return json_response(
        json.dumps(body, separators=(",", ":")), status_code=503 if body["status"] == "unavailable" else 200
    )


@router.get("/health/scheduler", response_model=SchedulerHealthResponse)
async def get_scheduler_health(ctx: CtxDep) -> SchedulerHealthResponse:
    """Scheduler health: each job's trigger, next and last run, error kinds, configured symbols."""
    return scheduler_health(ctx, public=True)
