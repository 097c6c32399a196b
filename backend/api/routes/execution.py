"""Execution runs (admin): why the portfolio did or did not trade; and the portfolio's history."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime

from backend.api.deps import AdminDep, CtxDep, ExecutionServiceDep, RecordId
from backend.api.links import link, linked
from backend.api.schemas.execution import (
    DustOut,
    HistoryPoint,
    HistoryResponse,
    OrderWithFills,
    RunDetailResponse,
    RunsResponse,
    RunSummary,
    ShortfallOut,
    SkippedOut,
)
from backend.api.schemas.portfolio import FillOut, OrderOut
from backend.execution.marks import STEP_PATTERN, PortfolioMarks, StepError, parse_step
from backend.execution.runs import RunsReader, skip_counts, skipped_of
from database.models.execution import ExecutionRun

router = APIRouter()
ZERO = Decimal(0)
SYMBOL = r"^[A-Za-z0-9]{2,20}$"


def _service(ctx: Any, name: str) -> Any:
    service = ctx.services.get(name)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="execution service not running")
    return service


def _invalid(param: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors (the documented 422 body)."""
    return HTTPException(422, detail=[{"loc": ["query", param], "msg": message, "type": "value_error"}])


def _summary(run: ExecutionRun, saved: int) -> RunSummary:
    details = run.details if isinstance(run.details, dict) else {}
    skipped = skipped_of(details)
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    reason = details.get("reason")
    return RunSummary(
        id=run.id,
        kind=run.kind,
        exchange=run.exchange,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_seconds=duration,
        equity=run.equity,
        gross_exposure=run.gross_exposure,
        orders_planned=run.orders_planned,
        orders_submitted=run.orders_submitted,
        orders_skipped=run.orders_skipped,
        orders_failed=run.orders_failed,
        orders_saved=saved,
        reason=reason if isinstance(reason, str) else None,
        error=run.error,
        skipped_by_kind=skip_counts(skipped),
        dust=len([d for d in details.get("dust") or [] if isinstance(d, dict)]),
        shortfall=_shortfall(details.get("shortfall")),
    )


def _shortfall(stored: object) -> ShortfallOut | None:
    """The cycle's shortfall as the service stored it; None for older runs or a malformed value."""
    if not isinstance(stored, dict):
        return None
    try:
        return ShortfallOut.model_validate(stored)
    except ValueError:
        return None


@router.get(
    "/execution/runs",
    response_model=RunsResponse,
    tags=["execution"],
    responses={
        200: linked(
            "Cycles and reconciliations, newest first.",
            GetFirstRun=link(
                "GET", "/execution/runs/{run_id}", "The first run in full.", run_id="$response.body#/runs/0/id"
            ),
        )
    },
)
async def list_runs(
    ctx: CtxDep,
    _caller: AdminDep,
    kind: Annotated[Literal["cycle", "reconcile"] | None, Query(description="Only cycles or reconciliations.")] = None,
    run_status: Annotated[
        Literal["running", "ok", "degraded", "skipped", "halted", "failed"] | None,
        Query(alias="status", description="Only runs that ended so."),
    ] = None,
    symbol: Annotated[
        str | None, Query(pattern=SYMBOL, description="Only runs with an order or a skip for it.")
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="Started at or after (ISO 8601 with zone).")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Started before (exclusive).")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RunsResponse:
    """Cycles and reconciliations, newest first: counts, skip reasons by kind, equity, timings."""
    reader: RunsReader = _service(ctx, "execution_runs")
    rows, total = await asyncio.to_thread(
        reader.page,
        kind=kind,
        status=run_status,
        symbol=symbol.upper() if symbol else None,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    saved = await asyncio.to_thread(reader.orders_per_run, [r.id for r in rows])
    return RunsResponse(limit=limit, offset=offset, total=total, runs=[_summary(r, saved.get(r.id, 0)) for r in rows])


@router.get(
    "/execution/runs/{run_id}",
    response_model=RunDetailResponse,
    tags=["execution"],
    responses={404: {"description": "No execution run with this id."}},
)
async def get_run(ctx: CtxDep, _caller: AdminDep, run_id: RecordId) -> RunDetailResponse:
    """One run: the plan (every order with its fills and fees), each skipped order with its reason
    (dust marked as dust), errors, unresolved orders and timings."""
    reader: RunsReader = _service(ctx, "execution_runs")
    found = await asyncio.to_thread(reader.detail, run_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no execution run {run_id}")
    details = found.run.details if isinstance(found.run.details, dict) else {}
    orders = []
    for order in found.orders:
        fills = [FillOut.model_validate(f, from_attributes=True) for f in found.fills.get(order.id, [])]
        base = OrderOut.model_validate(order, from_attributes=True).model_dump()
        orders.append(OrderWithFills(**base, fills=fills, fees_quote=sum((f.fee_quote for f in fills), ZERO)))
    errors = details.get("errors")
    unresolved = details.get("unresolved_orders")
    return RunDetailResponse(
        run=_summary(found.run, len(found.orders)),
        orders=orders,
        skipped=[SkippedOut(**asdict(s)) for s in skipped_of(details)],
        errors={str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {},
        unresolved_orders=[u for u in unresolved if isinstance(u, str)] if isinstance(unresolved, list) else [],
        dust=[DustOut.model_validate(d) for d in details.get("dust") or [] if isinstance(d, dict)],
        details=details,
    )


@router.get("/portfolio/history", response_model=HistoryResponse, tags=["portfolio"])
async def get_history(
    ctx: CtxDep,
    _caller: AdminDep,
    service: ExecutionServiceDep,
    since: Annotated[AwareDatetime | None, Query(description="From this time (inclusive, ISO 8601 with zone).")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Before this time (exclusive); default now.")] = None,
    step: Annotated[
        str | None,
        Query(
            pattern=STEP_PATTERN, description="Show the last mark of each step (90s, 15m, 1h, 1d); default every mark."
        ),
    ] = None,
) -> HistoryResponse:
    """Equity, cash, gross exposure, realised and unrealised PnL and the drawdown from the
    high-water mark, from the marks taken after every cycle and by the hourly portfolio-mark job."""
    if since is not None and until is not None and since >= until:
        raise _invalid("since", "since must be before until")
    marks: PortfolioMarks = _service(ctx, "portfolio_marks")
    try:
        step_seconds = parse_step(step) if step else None
        history = await asyncio.to_thread(marks.history, since=since, until=until, step_seconds=step_seconds)
    except StepError as exc:
        raise _invalid("step", str(exc)) from exc
    return HistoryResponse(
        exchange=marks.exchange,
        quote_asset=service.ledger.quote,
        since=history.since,
        until=history.until,
        step_seconds=history.step_seconds,
        marks_in_range=history.marks_in_range,
        max_drawdown=history.max_drawdown,
        points=[HistoryPoint(**{k: getattr(p, k) for k in HistoryPoint.model_fields}) for p in history.points],
    )
