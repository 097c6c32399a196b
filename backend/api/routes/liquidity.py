"""Liquidity endpoints (admin): the selection in force, and a refresh run now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from backend.api.deps import AdminDep, CtxDep, LiquidityServiceDep, WritableDep
from backend.api.schemas.health import JobLastRun
from backend.api.schemas.liquidity import (
    LiquidityExclusionsResponse,
    LiquidityRefreshResponse,
    LiquidityResponse,
    LiquidityRunOut,
)
from backend.api.security import Audited, audit_or_503
from backend.scheduler.jobs.liquidity import JOB_ID
from backend.scheduler.runner import JobBusyError, RunStatus

router = APIRouter(tags=["liquidity"])


@router.get("/liquidity", response_model=LiquidityResponse)
async def get_liquidity(_caller: AdminDep, service: LiquidityServiceDep) -> LiquidityResponse:
    """The selection in force (weights summing to 1) with its analytics, and the newest run."""
    selection, last = service.latest_selection(), service.last_run()
    return LiquidityResponse(
        selection=LiquidityRunOut.of(selection) if selection is not None else None,
        last_run=LiquidityRunOut.of(last) if last is not None else None,
    )


@router.get("/liquidity/exclusions", response_model=LiquidityExclusionsResponse)
async def get_liquidity_exclusions(
    _caller: AdminDep,
    service: LiquidityServiceDep,
    symbol: Annotated[list[str] | None, Query(description="Only these symbols (repeatable).")] = None,
) -> LiquidityExclusionsResponse:
    """Why each symbol was excluded from the newest run: the filter that removed it and its reason."""
    run = service.last_run()
    if run is None:
        return LiquidityExclusionsResponse(run_id=None, created_at=None, exclusions={})
    wanted = {s.upper() for s in symbol} if symbol else None
    exclusions = {s: e for s, e in run.exclusions.items() if wanted is None or s in wanted}
    return LiquidityExclusionsResponse(run_id=run.run_id, created_at=run.created_at, exclusions=exclusions)


@router.post(
    "/liquidity/refresh",
    response_model=LiquidityRefreshResponse,
    responses={409: {"description": "A liquidity refresh is already running."}},
)
async def refresh_liquidity(
    request: Request, ctx: CtxDep, caller: AdminDep, _w: WritableDep, service: LiquidityServiceDep
) -> LiquidityRefreshResponse:
    """Run one liquidity refresh now (through the job wrapper) and return the run it produced."""
    if ctx.runner.is_running(JOB_ID):
        audit_or_503(ctx, request, caller, "refused: running")
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"job {JOB_ID!r} is running")
    current = service.latest_selection()
    before = None if current is None else {"run_id": current.run_id, "symbols": current.symbols}
    with Audited(ctx, request, caller, before=before) as audit:
        try:
            run = await ctx.runner.run_now(JOB_ID)
        except JobBusyError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=f"job {JOB_ID!r} is running") from exc
        produced = service.last_run() if run.status in (RunStatus.OK, RunStatus.DEGRADED) else None
        audit.outcome = f"ran: {run.status.value}"
        audit.after = None if produced is None else {"run_id": produced.run_id, "symbols": produced.symbols}
    return LiquidityRefreshResponse(
        job=JobLastRun(
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_seconds=run.duration_seconds,
            status=run.status.value,
            manual=run.manual,
            error=run.error,
            errors=run.errors,
        ),
        run=LiquidityRunOut.of(produced) if produced is not None else None,
    )
