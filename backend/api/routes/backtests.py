"""Backtest endpoints: recorded runs, their equity curves and reports (public reads); starting one (admin, audited)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse

from backend.api.deps import AdminDep, CtxDep, RecordId, WritableDep
from backend.api.links import link, linked
from backend.api.schemas.backtests import (
    BacktestCreate,
    BacktestDetail,
    BacktestEquity,
    BacktestList,
    BacktestSummary,
    EquityCurve,
    EquityPoint,
)
from backend.api.security import Audited, audit_or_503
from backend.backtest.curves import CURVE_READER, MAX_POINTS, read_curves
from backend.backtest.service import BacktestBusyError, BacktestConflictError, BacktestService
from backend.backtest.store import RunView

router = APIRouter(prefix="/backtests", tags=["backtests"])
# The report is one self-contained page: its plotly.js and styles are inline, nothing is fetched.
REPORT_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
# GET /backtests/{id}/equity: points per curve by default and at most (a year of 5-minute bars is 105,120).
DEFAULT_POINTS = 2000


async def get_backtests(request: Request) -> BacktestService:
    service: BacktestService | None = request.app.state.ctx.services.get("backtests")
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="backtests unavailable")
    return service


BacktestsDep = Annotated[BacktestService, Depends(get_backtests)]
RunId = RecordId


def _fields(view: RunView, service: BacktestService) -> dict[str, Any]:
    metrics = view.metrics or {}
    return {
        "id": view.id,
        "status": view.status,
        "created_at": view.created_at,
        "started_at": view.started_at,
        "finished_at": view.finished_at,
        "duration_seconds": view.duration_seconds,
        "data_range": view.data_range,
        "net_returns": {k: v["total_return"] for k, v in metrics.items()} if metrics else None,
        "report_url": f"/backtests/{view.id}/report" if service.report_path(view) is not None else None,
        "error": view.error,
    }


async def _view(service: BacktestService, run_id: int) -> RunView:
    view = await asyncio.to_thread(service.store.get, run_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no backtest {run_id}")
    return view


@router.get(
    "",
    response_model=BacktestList,
    responses={
        200: linked(
            "Recorded backtests.",
            GetFirst=link("GET", "/backtests/{run_id}", "The first backtest.", run_id="$response.body#/items/0/id"),
        )
    },
)
async def list_backtests(
    service: BacktestsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> BacktestList:
    """Recorded backtests, newest first, with each book's net return."""
    total, views = await asyncio.to_thread(service.store.list, limit=limit, offset=offset)
    items = [BacktestSummary(**_fields(v, service)) for v in views]
    return BacktestList(total=total, limit=limit, offset=offset, items=items)


@router.get("/{run_id}", response_model=BacktestDetail, responses={404: {"description": "Unknown backtest."}})
async def get_backtest(run_id: RunId, service: BacktestsDep) -> BacktestDetail:
    """One backtest: parameters, data range, the metrics of the strategy and every baseline, and its warnings."""
    view = await _view(service, run_id)
    warnings = await asyncio.to_thread(service.warnings, view)
    return BacktestDetail(
        **_fields(view, service),
        params=view.params,
        metrics=view.metrics,
        requested_by=view.requested_by,
        warnings=warnings,
    )


@router.get(
    "/{run_id}/equity",
    response_model=BacktestEquity,
    responses={404: {"description": "Unknown backtest, or no curves yet (not completed)."}},
)
async def get_equity(
    run_id: RunId,
    service: BacktestsDep,
    max_points: Annotated[int, Query(ge=2, le=MAX_POINTS)] = DEFAULT_POINTS,
) -> BacktestEquity:
    """The equity curve of the strategy and of every baseline (equity.csv), thinned to max_points each."""
    view = await _view(service, run_id)
    path = service.equity_path(view)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"backtest {run_id} has no equity curves ({view.status})")
    curves = await asyncio.get_running_loop().run_in_executor(CURVE_READER, read_curves, path, max_points)
    return BacktestEquity(
        id=run_id,
        max_points=max_points,
        curves=[
            EquityCurve(
                book=c.book,
                points_in_run=c.points_in_run,
                step=c.step,
                points=[EquityPoint(time=t, equity=e) for t, e in c.points],
            )
            for c in curves
        ],
    )


@router.get(
    "/{run_id}/report",
    response_class=FileResponse,
    responses={200: {"content": {"text/html": {}}}, 404: {"description": "Unknown backtest, or no report yet."}},
)
async def get_report(run_id: RunId, service: BacktestsDep) -> FileResponse:
    """The run's report.html: equity, drawdown, per-symbol contribution, monthly returns (readable offline)."""
    view = await _view(service, run_id)
    path = service.report_path(view)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"backtest {run_id} has no report ({view.status})")
    return FileResponse(path, media_type="text/html", headers={"Content-Security-Policy": REPORT_CSP})


@router.post(
    "",
    response_model=BacktestSummary,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: linked(
            "The backtest is queued.",
            GetBacktest=link("GET", "/backtests/{run_id}", "The backtest's record.", run_id="$response.body#/id"),
            GetEquity=link("GET", "/backtests/{run_id}/equity", "Its equity curves.", run_id="$response.body#/id"),
            GetReport=link("GET", "/backtests/{run_id}/report", "Its report.", run_id="$response.body#/id"),
        ),
        409: {"description": "A backtest is already queued or running."},
        422: {"description": "A bad request, a symbol the data does not have, or no replay folder."},
    },
)
async def start_backtest(
    body: BacktestCreate, request: Request, ctx: CtxDep, service: BacktestsDep, caller: AdminDep, _w: WritableDep
) -> BacktestSummary:
    """Start a backtest in a separate worker process (one at a time); poll GET /backtests/{id}."""
    params = body.model_dump(mode="json")
    problem = await asyncio.to_thread(body.problem, ctx.settings.current)
    if problem is not None:
        audit_or_503(ctx, request, caller, f"refused: {problem}", after={"params": params})
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=problem)
    # one line, written once the outcome is known: start's own locked check may still refuse
    with Audited(ctx, request, caller, after={"params": params}):
        try:
            view = await service.start(body, caller.fingerprint)
        except BacktestBusyError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return BacktestSummary(**_fields(view, service))


@router.post(
    "/{run_id}/cancel",
    response_model=BacktestSummary,
    responses={
        404: {"description": "Unknown backtest."},
        409: {"description": "The backtest is not queued or running, or its worker is not this process's."},
    },
)
async def cancel_backtest(
    run_id: RunId, request: Request, ctx: CtxDep, service: BacktestsDep, caller: AdminDep, _w: WritableDep
) -> BacktestSummary:
    """Stop a queued or running backtest: its worker is terminated and the run recorded failed (cancelled)."""
    view = await _view(service, run_id)
    with Audited(ctx, request, caller, before={"status": view.status}, after={"status": "failed"}):
        try:
            view = await service.cancel(run_id)
        except BacktestConflictError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return BacktestSummary(**_fields(view, service))
