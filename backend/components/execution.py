"""The execution component: exchange adapter behind the risk guard, ledger, service, job, health.

At start-up it reconciles the ledger with the exchange (orders, fills, balances) before the first
cycle can run, and reports any difference in the log and in /health.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from backend.components.send_hold import hold_before_send
from backend.context import AppContext
from backend.exchanges.factory import build_exchange, closed_bars
from backend.execution.installation import installation_prefix
from backend.execution.ledger import Ledger
from backend.execution.marks import PortfolioMarks
from backend.execution.params import plan_params_for
from backend.execution.planner import PlanParams
from backend.execution.resting import resting_check_seconds
from backend.execution.runs import RunsReader
from backend.execution.service import ExecutionService
from backend.execution.snapshots import PRUNE_JOB, PRUNE_SECONDS, SnapshotRecorder
from backend.execution.tradelog import TradesLog
from backend.market.types import Kline, MarketSnapshot, OrderBook, SymbolRules
from backend.risk.guard import RiskGuard
from backend.risk.guarded import GuardedExchange
from backend.risk.models import KillSwitchState
from backend.scheduler.jobs.execution import JOB_ID, rebalance
from backend.scheduler.jobs.liquidity import JOB_ID as LIQUIDITY_JOB
from backend.scheduler.jobs.portfolio import JOB_ID as MARK_JOB
from backend.scheduler.jobs.portfolio import mark_portfolio
from backend.scheduler.jobs.resting import JOB_ID as RESTING_JOB
from backend.scheduler.jobs.resting import tend_resting
from backend.scheduler.runner import JobBusyError, JobResult, JobSpec, RunStatus

log = logging.getLogger(__name__)
SELECTION_WAIT_STEPS = 600
SELECTION_WAIT_STEP_SECONDS = 0.05


class MarketUnavailableError(RuntimeError):
    pass


def watch_kill_switch(
    guard: RiskGuard, service: ExecutionService, loop: asyncio.AbstractEventLoop, *, read_only: bool
) -> set[asyncio.Task[list[str]]]:
    """Turning the kill switch on cancels the service's open orders at once (QT_KILL_SWITCH_CANCELS_OPEN;
    the next cycle does it too, for a switch set by another replica). Returns the running cancels."""
    tasks: set[asyncio.Task[list[str]]] = set()

    def start() -> None:
        task = loop.create_task(service.cancel_open("kill switch on"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def changed(before: KillSwitchState, after: KillSwitchState) -> None:
        if read_only or before.enabled or not after.enabled or not service.cancels_open():
            return
        loop.call_soon_threadsafe(start)  # the switch may be set from a worker thread

    guard.on_kill_switch(changed)
    return tasks


def plan_params(ctx: AppContext) -> PlanParams:
    return plan_params_for(ctx.settings.current)


@asynccontextmanager
async def component(ctx: AppContext) -> AsyncIterator[None]:
    guard = ctx.services.get("risk_guard")
    if guard is None:
        reason = "risk guard not available: execution disabled"
        log.error(reason)
        ctx.health_checks["execution"] = lambda: [reason]
        yield
        return

    def market() -> object:
        service = ctx.services.get("market")
        if service is None:
            raise MarketUnavailableError("market service not running")
        return service

    async def snapshot() -> MarketSnapshot:
        result: MarketSnapshot = await market().snapshot()  # type: ignore[attr-defined]
        return result

    async def book(symbol: str, limit: int) -> OrderBook:
        result: OrderBook = await market().order_book(symbol, limit)  # type: ignore[attr-defined]
        return result

    async def rules() -> dict[str, SymbolRules]:
        result: dict[str, SymbolRules] = await market().rules()  # type: ignore[attr-defined]
        return result

    async def klines(symbol: str) -> list[Kline]:
        result: list[Kline] = await market().symbol_klines(symbol)  # type: ignore[attr-defined]
        return result

    settings = ctx.settings.current
    # what each cycle trades on, for the drift report (backend/execution/snapshots.py)
    recorder = SnapshotRecorder(
        ctx.sessions,
        exchange=settings.execution.exchange.value,
        retention_days=lambda: ctx.settings.current.execution.snapshot_retention_days,
        clock=ctx.clock,
        settings=ctx.settings,
    )
    adapter = build_exchange(
        lambda: ctx.settings.current,
        sessions=ctx.sessions,
        book=recorder.book_fn(book),
        rules=rules,
        metrics=ctx.metrics,
        clock=ctx.clock,
        # resting paper orders fill from the closed bars the market service keeps warm, as in the backtest
        bars=closed_bars(klines),
    )

    async def selection() -> dict[str, Decimal] | None:
        liquidity = ctx.services.get("liquidity")
        if liquidity is None:
            return None
        current = liquidity.latest_selection()
        if current is None and LIQUIDITY_JOB in ctx.runner.job_ids():
            # first start: the universe is not selected yet; let the liquidity job produce it now
            # (through its own wrapper, or by waiting for the run already under way) so the very
            # first cycle already trades toward a selection
            for _ in range(SELECTION_WAIT_STEPS):
                if not ctx.runner.is_running(LIQUIDITY_JOB):
                    try:
                        await ctx.runner.run_now(LIQUIDITY_JOB)
                    except JobBusyError:
                        pass
                    else:
                        break
                await asyncio.sleep(SELECTION_WAIT_STEP_SECONDS)
            current = liquidity.latest_selection()
        return None if current is None else dict(current.weights)

    trades_log = TradesLog(settings.app.trades_log_path)
    notify = ctx.services.get("notify")
    if notify is not None:  # order rejected / unknown / resolved late, start-up reconciliation included
        trades_log.subscribe(notify.on_order_event)
    service = ExecutionService(
        ledger=Ledger(ctx.sessions, exchange=adapter.name, quote_asset=settings.execution.quote_asset, clock=ctx.clock),
        exchange=GuardedExchange(adapter, guard),
        snapshot=recorder.snapshot_fn(snapshot),
        selection=recorder.selection_fn(selection),
        params=functools.partial(plan_params, ctx),
        metrics=ctx.metrics,
        trades_log=trades_log,
        clock=ctx.clock,
        unknown_grace=lambda: ctx.settings.current.execution.unknown_grace_seconds,
        epoch=ctx.runner.leader_epoch,
        still_leads=ctx.runner.still_leads,
        before_send=hold_before_send(),  # a test hook, None unless QT_TEST_HOLD_BEFORE_SEND_DIR is set
        # client order ids unique across deployments on one account: the prefix is read (drawn on
        # first use) by start-up reconciliation, before anything is sent; a read-only replica sends nothing
        installation=None if ctx.read_only else functools.partial(installation_prefix, ctx.sessions, clock=ctx.clock),
        cancels_open=lambda: ctx.settings.current.risk.kill_switch_cancels_open,
    )
    ctx.services["execution"] = service
    watch_kill_switch(guard, service, asyncio.get_running_loop(), read_only=ctx.read_only)
    marks = PortfolioMarks(ctx.sessions, exchange=adapter.name, clock=ctx.clock)
    ctx.services["portfolio_marks"] = marks
    ctx.services["execution_runs"] = RunsReader(ctx.sessions, exchange=adapter.name)
    if ctx.read_only:
        pass
    elif await ctx.runner.is_leader():
        report = await service.reconcile()
        if report.error:
            log.error("start-up reconciliation failed", extra={"error": report.error})
    else:
        # Another replica leads and may be mid-cycle: looking its orders up now could mark an order
        # it has saved but not yet sent as failed. This replica reconciles before its first cycle,
        # should it become the leader (run_cycle reconciles when nothing has been reconciled yet).
        log.info("start-up reconciliation left to the leader replica")
    ctx.services["market_snapshots"] = recorder

    async def recorded_rebalance() -> JobResult:
        result: JobResult = await recorder.around(service, functools.partial(rebalance, service, marks))
        return result

    async def prune_snapshots() -> JobResult:
        removed = await asyncio.to_thread(recorder.prune)
        return JobResult(status=RunStatus.OK, details={"removed": removed})

    ctx.runner.add(
        JobSpec(
            job_id=JOB_ID,
            func=recorded_rebalance,
            description="Rebalance the portfolio toward the liquidity selection",
            seconds=lambda s: s.scheduler.execution_seconds,
            enabled=lambda s: not s.scheduler.execution_disabled,
        )
    )
    ctx.runner.add(
        JobSpec(
            job_id=RESTING_JOB,
            func=functools.partial(tend_resting, service),
            description="Between cycles: look up, re-price or finish resting maker orders, send due slices",
            seconds=resting_check_seconds,
            enabled=lambda s: not s.scheduler.execution_disabled,
        )
    )
    ctx.runner.add(
        JobSpec(
            job_id=MARK_JOB,
            func=functools.partial(mark_portfolio, service, marks),
            description="Value the portfolio and store the mark (GET /portfolio/history)",
            seconds=lambda s: s.scheduler.portfolio_mark_seconds,
        )
    )
    ctx.runner.add(
        JobSpec(
            job_id=PRUNE_JOB,
            func=prune_snapshots,
            description="Delete recorded market snapshots older than QT_SNAPSHOT_RETENTION_DAYS",
            seconds=lambda _s: PRUNE_SECONDS,
        )
    )
    ctx.health_checks["execution"] = service.health_reasons
    try:
        yield
    finally:
        service.close()
        await adapter.close()
