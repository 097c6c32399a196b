"""The rebalance cycle: one lock serialises scheduled cycles, manual cycles and reconciliation.

A cycle: reconcile orders whose outcome is unknown → read the account and marks → plan → persist
every order (PENDING) → for each order: fit it to the cash, check it with the risk guard, claim it
(fencing) and send it (backend/execution/submit.py) → record the answer and the fills → update
positions, equity and exposure. A timeout or 5xx is an unknown outcome: the order is looked up by
its client order id and never resubmitted blindly; while any order stays unresolved, no new order is
sent (backend/execution/reconcile.py, start-up in backend/execution/startup.py). Every order event
is one line in the trades log.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from backend.amounts import decimal_text
from backend.exchanges.base import AccountSnapshot, OrderSide
from backend.exchanges.errors import ExchangeError
from backend.execution.dust import dust_holdings, dust_reason
from backend.execution.installation import DEFAULT_PREFIX
from backend.execution.ledger import Ledger, OpenOrder, PositionView
from backend.execution.ledger_view import value_ledger
from backend.execution.planner import PlanParams, SkippedOrder, plan_orders
from backend.execution.reconcile import Reconciler, ReconcileReport
from backend.execution.recorder import Recorder
from backend.execution.reports import CENT, CycleReport, health_reasons
from backend.execution.resting import RestingOrders
from backend.execution.slicing import Slicer
from backend.execution.submit import Submitter, quote_amount
from backend.execution.tradelog import TradesLog
from backend.execution.valuation import (
    Mark,
    Portfolio,
    PositionValue,
    marks_from_snapshot,
    references_from_snapshot,
    tradable_holdings,
)
from backend.market.types import MarketSnapshot, SymbolRules
from backend.observability.metrics import Metrics
from backend.risk.guarded import GuardedExchange

log = logging.getLogger(__name__)
ZERO = Decimal(0)
DEFAULT_UNKNOWN_GRACE_SECONDS = 120.0

SnapshotFn = Callable[[], Awaitable[MarketSnapshot]]
SelectionFn = Callable[[], dict[str, Decimal] | Awaitable[dict[str, Decimal] | None] | None]


class ExecutionService:
    def __init__(
        self,
        *,
        ledger: Ledger,
        exchange: GuardedExchange,
        snapshot: SnapshotFn,
        selection: SelectionFn,
        params: Callable[[], PlanParams],
        metrics: Metrics,
        trades_log: TradesLog,
        clock: Callable[[], datetime],
        unknown_grace: Callable[[], float] = lambda: DEFAULT_UNKNOWN_GRACE_SECONDS,
        epoch: Callable[[], int | None] = lambda: None,
        still_leads: Callable[[], Awaitable[bool]] | None = None,
        before_send: Callable[[str], Awaitable[None]] | None = None,
        cancels_open: Callable[[], bool] = lambda: True,
        installation: Callable[[], str] | None = None,  # this installation's id prefix (installation.py)
    ) -> None:
        self.ledger = ledger
        self.id_prefix = DEFAULT_PREFIX  # replaced by the installation's at start-up reconciliation
        self._installation = installation
        self.exchange = exchange
        self.guard = exchange.guard
        self._snapshot = snapshot
        self._selection = selection
        self._read_params = params
        self._turn_params: PlanParams | None = None  # the settings snapshot of the cycle or check running
        self._metrics = metrics
        self._log = trades_log
        self._clock = clock
        self._unknown_grace = unknown_grace
        # fencing: the leader epoch saved with every order, and the proof of leadership before a send
        self._epoch = epoch
        self._still_leads = still_leads
        self._before_send = before_send  # a test hook: a pause between save and send
        self.reconciler = Reconciler(self)
        self.submitter = Submitter(self)
        self.recorder = Recorder(self)
        self.resting = RestingOrders(self)
        self.slicer = Slicer(self)
        self.cancels_open = cancels_open
        self.lock = asyncio.Lock()
        self.last_report: CycleReport | None = None
        self.last_portfolio: Portfolio | None = None  # the valuation at the end of the last cycle
        self.last_reconcile: ReconcileReport | None = None
        self._account: AccountSnapshot | None = None
        self._marks: dict[str, Mark] = {}
        self._references: dict[str, Mark] = {}
        self._asks: dict[str, Decimal] = {}
        self._tops: dict[str, tuple[Decimal, Decimal]] = {}  # best (bid, ask) a maker order joins
        self._marks_at: datetime | None = None
        self._rules: dict[str, SymbolRules] = {}
        # the ledger's holdings and cash as of the last write of this cycle (saves a read per order)
        self._held: dict[str, Decimal] = {}
        # symbol -> the holding at the prices paid (quantity x average cost): the risk guard's
        # positions are the larger of this and the holding at the mark (see _exposure)
        self._costs: dict[str, Decimal] = {}
        self._cash: Decimal = ZERO
        self._conversion_cache: dict[str, Decimal] | None = None
        self._base_cache: dict[str, str] | None = None
        self._exposure_cache: dict[str, Decimal] | None = None
        self.fee_assets: set[str] = set()  # assets that paid fees: kept by the planner (start-up, then fills)

    # helpers ----------------------------------------------------------------------------------
    def _params(self) -> PlanParams:
        """The planner's knobs: while a cycle or a resting-order check runs, the snapshot it took when
        it started (a PUT /settings mid-cycle applies from the next one, so the plan, the order type
        saved and the order sent agree); else read now."""
        return self._turn_params if self._turn_params is not None else self._read_params()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """The execution lock, and one settings snapshot for everything done under it."""
        async with self.lock:
            self._turn_params = self._read_params()
            try:
                yield
            finally:
                self._turn_params = None

    async def _load_holdings(self) -> dict[str, PositionView]:
        """The ledger's positions and cash into the holdings the risk guard measures its limits on
        (see _exposure): done before any order of a cycle or check is sent, as what is in memory
        may be none (a restart), partial (start-up reconciliation) or another leader's past."""
        positions: dict[str, PositionView] = await self._db(self.ledger.positions)
        self._cash = await self._db(self.ledger.cash)
        self._held = {symbol: pos.quantity for symbol, pos in positions.items()}
        self._costs = {symbol: pos.quantity * pos.average_cost for symbol, pos in positions.items()}
        self._exposure_cache = None
        return positions

    async def _db(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(func, *args, **kwargs)

    def _count(self, endpoint: str, outcome: str) -> None:
        self._metrics.exchange_requests.labels(exchange=self.exchange.name, endpoint=endpoint, outcome=outcome).inc()

    def _order_metric(self, side: OrderSide | str, status: str) -> None:
        self._metrics.execution_orders.labels(side=str(side), status=status).inc()

    def _base_assets(self) -> dict[str, str]:
        if self._base_cache is None:
            self._base_cache = {s: r.base_asset for s, r in self._rules.items()}
        return self._base_cache

    def _conversions(self) -> dict[str, Decimal]:
        if self._conversion_cache is not None:
            return self._conversion_cache
        quote = self.ledger.quote
        out: dict[str, Decimal] = {}
        for symbol, mark in self._marks.items():
            rules = self._rules.get(symbol)
            if rules is not None and rules.quote_asset == quote:
                out[rules.base_asset] = mark.price
        self._conversion_cache = out
        return out

    async def _refresh_market(self) -> MarketSnapshot:
        snapshot = await self._snapshot()
        self._rules = dict(snapshot.rules)
        self._marks = marks_from_snapshot(snapshot)
        self._references = references_from_snapshot(snapshot)
        self._asks = {sym: top.ask_price for sym, top in snapshot.book_tops.items() if top.ask_price > 0}
        self._tops = {
            sym: (top.bid_price, top.ask_price)
            for sym, top in snapshot.book_tops.items()
            if top.bid_price > 0 and top.ask_price >= top.bid_price
        }
        self._marks_at = snapshot.taken_at
        self._conversion_cache = None
        self._exposure_cache = None
        self._base_cache = None
        return snapshot

    # reconciliation (backend/execution/reconcile.py) -------------------------------------------
    async def reconcile(self) -> ReconcileReport:
        """Start-up: resolve open orders, recover missing fills, compare balances; report differences."""
        async with self.lock:
            return await self._reconcile()

    async def _reconcile(self) -> ReconcileReport:
        return await self.reconciler.reconcile()

    # the cycle --------------------------------------------------------------------------------
    async def run_cycle(self) -> CycleReport:
        async with self._turn():
            return await self._cycle()

    async def _cycle(self) -> CycleReport:
        if self.last_reconcile is None or self.last_reconcile.error is not None:
            reconciled = await self._reconcile()
            if reconciled.error is not None:
                report = CycleReport(run_id=None, status="failed", reason=f"reconciliation failed: {reconciled.error}")
                self.last_report = report
                return report
        report = CycleReport(run_id=None, status="ok")
        try:
            report.run_id = await self._db(self.ledger.start_run, "cycle")
            await self._cycle_body(report)
        except Exception as exc:
            report.status = "failed"
            report.reason = f"{type(exc).__name__}: {exc}"
            log.exception("execution cycle failed")
        try:
            await self._finish(report)
        except Exception:
            log.exception("cycle outcome not recorded")
            self.last_report = report
        return report

    async def _cycle_body(self, report: CycleReport) -> None:
        snapshot = await self._refresh_market()
        await self._load_holdings()  # resting orders and due slices may be sent before the plan
        open_orders: list[OpenOrder] = await self._db(self.ledger.open_orders)
        resting = await self.resting.check(report, open_orders)  # in the equity, never re-planned
        busy = {**resting, **await self.slicer.tend(report, open_orders)}
        others = [o for o in open_orders if not o.rests]
        if others:
            _resolved, report.unresolved = await self.reconciler.resolve_open(others)
            if report.unresolved:
                report.status = "degraded"
                report.reason = "orders with unknown outcome could not be resolved; nothing new is sent"
                await self._value(report)
                return
        try:
            account = await self.exchange.account()
            self._count("account", "ok")
            self._account = account
        except ExchangeError as exc:
            self._count("account", type(exc).__name__)
            raise
        chosen = self._selection()
        weights = await chosen if inspect.isawaitable(chosen) else chosen
        positions = await self._load_holdings()  # again: the fills of the resting orders included
        ledger_cash = self._cash
        quote = self.ledger.quote
        exchange_cash = account.balances[quote].free if quote in account.balances else ZERO
        spendable = min(ledger_cash, exchange_cash)  # a resting buy locks part of the cash
        sellable = tradable_holdings(positions, account)  # and a resting sale part of the base
        report.dust = dust_holdings(
            {s: p.quantity for s, p in positions.items()}, {s: m.price for s, m in self._marks.items()}, snapshot.rules
        )
        if weights is None:
            report.status = "skipped"
            report.reason = "no universe selection yet"
            await self._value(report)
            return
        params = self._params()
        if not self.fee_assets <= params.keep_assets:
            params = replace(params, keep_assets=params.keep_assets | self.fee_assets)
        plan = plan_orders(
            cycle_id=str(report.run_id),
            id_prefix=self.id_prefix,
            weights=weights,
            positions={symbol: pos.quantity for symbol, pos in positions.items()},
            cash=ledger_cash,
            spendable=spendable,
            sellable=sellable,
            working=resting,
            marks={s: m.price for s, m in self._marks.items()},
            rules=snapshot.rules,
            params=params,
            costs=self._costs,
        )
        for s in plan.skipped:
            self._skip(report, s.symbol, s.side, s.notional, s.reason)
        self.resting.skip_busy(report, plan, busy)
        await self.slicer.slice_plan(report, plan, params)
        report.planned = len(plan.orders)
        halt = self._halt_reason()
        if halt:
            self.submitter.refuse_all(report, plan, halt)
            await self._value(report)
            return
        await self.slicer.save_plan(report, plan, params)  # every order persisted before the first is sent
        await self.submitter.submit_plan(report, plan)
        await self._value(report)

    async def cancel_open(self, reason: str) -> list[str]:
        """Cancel every open order of this service (the kill switch, QT_KILL_SWITCH_CANCELS_OPEN)."""
        async with self.lock:
            await self._refresh_market()
            return await self.resting.cancel_all(reason)

    async def tend_resting(self) -> dict[str, str]:
        """Between cycles: look up, re-price or finish resting orders, send due slices."""
        async with self._turn():
            await self._load_holdings()
            return await self.resting.between_cycles()

    def _halt_reason(self) -> str | None:
        if not self.guard.kill_switch_enabled():
            return None
        return self.guard.kill_switch_state().reason or "no reason given"

    def _skip(self, report: CycleReport, symbol: str, side: str, notional: Decimal, reason: str) -> None:
        report.skipped += 1
        report.skipped_orders.append(
            {"symbol": symbol, "side": side, "notional": decimal_text(notional.quantize(CENT)), "reason": reason}
        )

    async def _value(self, report: CycleReport) -> None:
        portfolio, positions = await value_ledger(self, refresh=False)
        self.last_portfolio = portfolio
        report.equity = portfolio.equity
        report.gross_exposure = portfolio.gross_exposure
        report.cash = portfolio.cash
        self._metrics.portfolio_equity.set(float(portfolio.equity))
        # the positions just read say which last prices moved: only those are written
        moved = {s: m.price for s, m in self._marks.items() if s in positions and positions[s].last_price != m.price}
        if moved:
            await self._db(self.ledger.set_marks, moved)

    async def _finish(self, report: CycleReport) -> None:
        if report.status == "ok" and (report.failed or report.errors):
            report.status = "degraded"
        self._metrics.execution_cycle_shortfall_quote.set(float(report.shortfall.quote))
        self._metrics.execution_cycle_shortfall_bps.set(float(report.shortfall.bps or 0))
        if report.run_id is not None:
            await self._db(self.ledger.finish_run, report.run_id, **report.run_record())
        self.last_report = report

    def close(self) -> None:
        self._log.close()

    # views ------------------------------------------------------------------------------------
    async def history(
        self, *, symbol: str | None, since: datetime | None, until: datetime | None, limit: int, offset: int
    ) -> tuple[list[Any], int, list[Any], int]:
        result: tuple[list[Any], int, list[Any], int] = await self._db(
            self.ledger.history, symbol=symbol, since=since, until=until, limit=limit, offset=offset
        )
        return result

    def health_reasons(self) -> list[str]:
        return health_reasons(self.last_reconcile, self.last_report)

    def dust_of(self, symbol: str, quantity: Decimal, price: Decimal | None) -> str | None:
        """Why this holding is dust at the latest exchange rules, or None (see execution/dust.py)."""
        rules = self._rules.get(symbol)
        return None if rules is None else dust_reason(rules, quantity, price)

    def _exposure(self) -> dict[str, Decimal]:
        """Notional per symbol the risk guard measures its limits on: this cycle's holdings at the
        latest mark or at the prices paid for them, whichever is larger (kept up to date by the
        recorder). The prices paid count because a fill away from the book (halted, but filled)
        must not leave headroom that the mark alone would show: no position exceeds
        QT_MAX_POSITION_PER_SYMBOL at its fill prices either."""
        if self._exposure_cache is None:
            out: dict[str, Decimal] = {}
            for symbol, qty in self._held.items():
                value = self._exposure_of(symbol, qty)
                if value is not None:
                    out[symbol] = value
            self._exposure_cache = out
        return dict(self._exposure_cache)

    def _exposure_of(self, symbol: str, qty: Decimal) -> Decimal | None:
        mark = self._marks.get(symbol)
        if qty <= 0 or mark is None:
            return None
        return max(qty * mark.price, self._costs.get(symbol, ZERO))

    async def portfolio(self, *, refresh: bool = True) -> Portfolio:
        """The ledger's positions and cash valued at the latest marks (refreshed first unless told not to)."""
        return (await value_ledger(self, refresh=refresh))[0]


__all__ = [
    "CycleReport",
    "ExecutionService",
    "Mark",
    "OpenOrder",
    "PlanParams",
    "Portfolio",
    "PositionValue",
    "ReconcileReport",
    "SkippedOrder",
    "marks_from_snapshot",
    "quote_amount",
    "references_from_snapshot",
]
