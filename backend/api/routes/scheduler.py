"""Scheduler controls (admin): status, pause, resume, run a job now."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from backend.api.deps import AdminDep, CtxDep, WritableDep
from backend.api.lean import json_response, lean
from backend.api.routes.health import scheduler_health
from backend.api.schemas.health import JobRunResponse, SchedulerControlResponse, SchedulerStatusResponse
from backend.api.security import Audited, audit_or_503, require_admin
from backend.context import AppContext
from backend.scheduler.runner import JobBusyError, UnknownJobError

router = APIRouter(prefix="/scheduler", tags=["scheduler"])


@router.get("/status", response_model=SchedulerStatusResponse, dependencies=[Depends(require_admin)])
@lean
async def get_scheduler_status(request: Request) -> Response:
    """Scheduler status with the effective scheduler configuration."""
    await require_admin(request)
    ctx: AppContext = request.app.state.ctx
    base = scheduler_health(ctx)
    configuration = ctx.services["runtime_settings"].scheduler_configuration()
    body = SchedulerStatusResponse.model_construct(**dict(base), configuration=configuration)
    return json_response(body.model_dump_json())


DISABLED = (
    "the scheduler is disabled (QUANTUM_TRADER_DISABLE_SCHEDULER=1): scheduled runs do not happen; "
    "POST /scheduler/jobs/{job_id}/run still runs a job now"
)


def _control(ctx: CtxDep) -> SchedulerControlResponse:
    disabled = ctx.settings.current.scheduler.disabled
    return SchedulerControlResponse(
        running=ctx.runner.running, paused=ctx.runner.paused, reason=DISABLED if disabled else None
    )


@router.post("/pause", response_model=SchedulerControlResponse)
async def pause_scheduler(request: Request, ctx: CtxDep, caller: AdminDep, _w: WritableDep) -> SchedulerControlResponse:
    """Pause every scheduled job (manual runs still work)."""
    before = _control(ctx).model_dump()
    with Audited(ctx, request, caller, before=before, after={**before, "paused": True}):
        ctx.runner.pause()
    return _control(ctx)


@router.post(
    "/resume",
    response_model=SchedulerControlResponse,
    responses={409: {"description": "The scheduler is disabled and not paused: there is nothing to resume."}},
)
async def resume_scheduler(
    request: Request, ctx: CtxDep, caller: AdminDep, _w: WritableDep
) -> SchedulerControlResponse:
    """Resume the scheduled jobs."""
    if ctx.settings.current.scheduler.disabled and not ctx.runner.paused:
        audit_or_503(ctx, request, caller, "refused: disabled")
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"nothing to resume: {DISABLED}")
    before = _control(ctx).model_dump()
    with Audited(ctx, request, caller, before=before, after={**before, "paused": False}):
        ctx.runner.resume()
    return _control(ctx)


@router.post(
    "/jobs/{job_id}/run",
    response_model=JobRunResponse,
    responses={404: {"description": "Unknown job."}, 409: {"description": "The job is running."}},
)
async def run_job(job_id: str, request: Request, ctx: CtxDep, caller: AdminDep, _w: WritableDep) -> JobRunResponse:
    """Run one job now, through the same wrapper as scheduled runs."""
    if job_id not in ctx.runner.job_ids():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"unknown job {job_id[:100]!r}; known: {ctx.runner.job_ids()}"
        )
    if ctx.runner.is_running(job_id):
        audit_or_503(ctx, request, caller, "refused: running")
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"job {job_id!r} is running")
    with Audited(ctx, request, caller) as audit:
        try:
            run = await ctx.runner.run_now(job_id)
        except JobBusyError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=f"job {job_id!r} is running") from exc
        except UnknownJobError as exc:  # pragma: no cover - checked above
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown job {job_id!r}") from exc
        audit.outcome, audit.detail = f"ran: {run.status.value}", {"error": run.error}
    return JobRunResponse(
        job_id=job_id,
        run={
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration_seconds": run.duration_seconds,
            "status": run.status.value,
            "manual": run.manual,
            "error": run.error,
            "errors": run.errors,
        },
        details=ctx.runner.details(job_id),
    )
