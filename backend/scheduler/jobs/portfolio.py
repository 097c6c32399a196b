"""The `portfolio-mark` job (hourly) and the mark taken after every cycle: the portfolio valued
and stored in portfolio_marks, the source of GET /portfolio/history and of the equity drawdown
protection (each stored mark is read back into the risk guard)."""

from __future__ import annotations

import asyncio
import logging

from backend.execution.drawdown import watch_drawdown
from backend.execution.marks import MarkPoint, PortfolioMarks
from backend.execution.service import ExecutionService
from backend.scheduler.runner import JobResult, RunStatus

JOB_ID = "portfolio-mark"
log = logging.getLogger(__name__)


async def record_mark(
    service: ExecutionService, marks: PortfolioMarks, *, source: str, run_id: int | None, refresh: bool
) -> MarkPoint | None:
    """Value the portfolio and store the mark; None (nothing stored) before the ledger is seeded,
    since an unseeded ledger is worth zero and would draw a false -100 % drawdown."""
    if not await asyncio.to_thread(service.ledger.is_seeded):
        return None
    p = await service.portfolio(refresh=refresh)
    point: MarkPoint = await asyncio.to_thread(
        marks.record,
        equity=p.equity,
        cash=p.cash,
        gross_exposure=p.gross_exposure,
        realised_pnl=p.realised_pnl,
        unrealised_pnl=p.unrealised_pnl,
        fees_paid=p.fees_paid,
        contributed=p.contributed,
        source=source,
        run_id=run_id,
    )
    # the equity drawdown protection reads the marks just stored (it may halt trading)
    await asyncio.to_thread(watch_drawdown, service.guard, marks, now=point.time)
    return point


async def mark_portfolio(service: ExecutionService, marks: PortfolioMarks) -> JobResult:
    # under the cycle's lock: refreshing the marks mid-cycle would reset the cycle's caches
    async with service.lock:
        point = await record_mark(service, marks, source="hourly", run_id=None, refresh=True)
    if point is None:
        return JobResult(status=RunStatus.SKIPPED, details={"reason": "the ledger is not seeded yet"})
    return JobResult(details={"time": point.time.isoformat(), "equity": format(point.equity, "f")})
