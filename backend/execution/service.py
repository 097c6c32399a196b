"""The rebalance cycle and start-up reconciliation.

One lock serialises scheduled cycles, manual cycles and reconciliation. A cycle:
reconcile orders whose outcome is unknown → read the account and marks → plan → for each order:
persist (PENDING) → submit through the risk guard → record the answer and the fills → update
positions, equity and exposure. A timeout or 5xx is an unknown outcome: the order is looked up by
its client order id and never resubmitted blindly; while any order stays unresolved, no new order is
sent. Every order event is one line in the trades log.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from backend.amounts import decimal_text
from backend.exchanges.base import (
    AccountSnapshot,
    Fill,
    OrderRequest,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
)
from backend.exchanges.errors import (
    ExchangeConfigError,
    ExchangeError,
    OrderRejectedError,
    RateLimitedError,
    TemporaryExchangeError,
    UnknownOutcomeError,
)
from backend.exchanges.filters import filter_failure, quantize_quantity
from backend.execution.dust import dust_holdings, dust_reason
from backend.execution.ledger import (
    FAILED,
    REFUSED,
    SKIPPED,
    Applied,
    Ledger,
    OpenOrder,
    PositionView,
    RecordedFill,
)
from backend.execution.planner import OrderPlan, PlannedOrder, PlanParams, SkippedOrder, plan_orders
from backend.execution.reconcile import Reconciler, ReconcileReport
from backend.execution.shortfall import ShortfallSum, shortfall_of
from backend.execution.styles import LIMIT_IOC, style_fields
from backend.execution.tradelog import TradesLog
from backend.market.types import MarketSnapshot, SymbolRules
from backend.observability.metrics import Metrics
from backend.risk.guarded import GuardedExchange
from backend.risk.models import RiskContext, RiskRefused

log = logging.getLogger(__name__)
ZERO = Decimal(0)
CENT = Decimal("0.01")
DEFAULT_UNKNOWN_GRACE_SECONDS = 120.0
QUOTE_QUANTUM = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class Mark:
    price: Decimal
    time: datetime
    from_book: bool = False  # the book-top mid (else the ticker's last trade price)


@dataclass
class CycleReport:
    run_id: int | None
    status: str  # ok | degraded | halted | skipped | failed
    planned: int = 0
    submitted: int = 0
    skipped: int = 0
    failed: int = 0
    filled: int = 0
    equity: Decimal = ZERO
    gross_exposure: Decimal = ZERO
    cash: Decimal = ZERO
    reason: str | None = None
    skipped_orders: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)
    dust: list[dict[str, Any]] = field(default_factory=list)  # holdings below the exchange minimum
    shortfall: ShortfallSum = field(default_factory=ShortfallSum)  # backend/execution/shortfall.py

    def details(self) -> dict[str, Any]:
        return {
            "last_run_id": self.run_id,
            "status": self.status,
            "orders_planned": self.planned,
            "orders_submitted": self.submitted,
            "orders_skipped": self.skipped,
            "orders_failed": self.failed,
            "orders_filled": self.filled,
            "equity": decimal_text(self.equity.quantize(CENT)),
            "gross_exposure": decimal_text(self.gross_exposure.quantize(CENT)),
            "cash": decimal_text(self.cash.quantize(CENT)),
            "reason": self.reason,
            "unresolved_orders": self.unresolved,
            "shortfall": self.shortfall.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class PositionValue:
    symbol: str
    base_asset: str
    quantity: Decimal
    average_cost: Decimal
    mark: Decimal | None
    market_value: Decimal
    unrealised_pnl: Decimal
    realised_pnl: Decimal
    fees_paid: Decimal


@dataclass(frozen=True, slots=True)
class Portfolio:
    exchange: str
    quote_asset: str
    cash: Decimal
    contributed: Decimal
    positions: list[PositionValue]
    equity: Decimal
    gross_exposure: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    fees_paid: Decimal
    balances: dict[str, dict[str, Decimal]]
    balances_as_of: datetime | None
    marks_as_of: datetime | None


SnapshotFn = Callable[[], Awaitable[MarketSnapshot]]
SelectionFn = Callable[[], dict[str, Decimal] | Awaitable[dict[str, Decimal] | None] | None]


def marks_from_snapshot(snapshot: MarketSnapshot) -> dict[str, Mark]:
    """Book-top mid where there is a sane book, the last trade price otherwise."""
    marks: dict[str, Mark] = {}
    for symbol, ticker in snapshot.tickers.items():
        if ticker.last_price > 0:
            marks[symbol] = Mark(ticker.last_price, ticker.close_time)
    for symbol, top in snapshot.book_tops.items():
        if top.bid_price > 0 and top.ask_price >= top.bid_price:
            marks[symbol] = Mark(top.mid, top.time, from_book=True)
    return marks


def references_from_snapshot(snapshot: MarketSnapshot) -> dict[str, Mark]:
    """The risk guard's reference: the 24h ticker's last trade price, independent of the book mid
    orders are planned at (a symbol priced from the ticker alone has no independent reference)."""
    return {s: Mark(t.last_price, t.close_time) for s, t in snapshot.tickers.items() if t.last_price > 0}


def quote_amount(
    order: PlannedOrder, params: PlanParams | None = None, held: Decimal = ZERO, ask: Decimal | None = None
) -> Decimal | None:
    """A buy is sent by quote amount (Binance quoteOrderQty), so what the fill spends can never exceed
    what the risk guard allowed. It is the planned quantity at the best ask (what it costs at the
    top of the book, not at the mid), capped at the per-trade limit and at the room left under the
    per-symbol limit (`held` = the symbol's exposure now), floored to 1e-8. Sells go by quantity."""
    if order.side is not OrderSide.BUY:
        return None
    planned = order.quantity * order.price
    amount = order.quantity * max(ask, order.price) if ask is not None and ask > 0 else planned
    if params is not None:
        if params.max_notional_per_trade is not None and params.max_notional_per_trade > 0:
            amount = min(amount, params.max_notional_per_trade)
        if params.max_position_per_symbol is not None and params.max_position_per_symbol > 0:
            amount = min(amount, max(params.max_position_per_symbol - held, planned))
    return amount.quantize(QUOTE_QUANTUM, rounding=ROUND_DOWN)


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
    ) -> None:
        self.ledger = ledger
        self.exchange = exchange
        self.guard = exchange.guard
        self._snapshot = snapshot
        self._selection = selection
        self._params = params
        self._metrics = metrics
        self._log = trades_log
        self._clock = clock
        self._unknown_grace = unknown_grace
        # fencing: the leader epoch saved with every order, and the proof of leadership before a send
        self._epoch = epoch
        self._still_leads = still_leads
        self._before_send = before_send  # a test hook: a pause between save and send
        self.reconciler = Reconciler(self)
        self.lock = asyncio.Lock()
        self.last_report: CycleReport | None = None
        self.last_reconcile: ReconcileReport | None = None
        self._account: AccountSnapshot | None = None
        self._marks: dict[str, Mark] = {}
        self._references: dict[str, Mark] = {}
        self._asks: dict[str, Decimal] = {}
        self._marks_at: datetime | None = None
        self._rules: dict[str, SymbolRules] = {}
        # the ledger's holdings and cash as of the last write of this cycle (saves a read per order)
        self._held: dict[str, Decimal] = {}
        self._cash: Decimal = ZERO
        self._conversion_cache: dict[str, Decimal] | None = None
        self._base_cache: dict[str, str] | None = None
        self._exposure_cache: dict[str, Decimal] | None = None

    # helpers ----------------------------------------------------------------------------------
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
        self._marks_at = snapshot.taken_at
        self._conversion_cache = None
        self._exposure_cache = None
        self._base_cache = None
        return snapshot

    async def _record(
        self,
        fills: Iterable[Fill],
        client_order_id: str | None,
        order_update: dict[str, Any] | None = None,
    ) -> list[RecordedFill]:
        fills = list(fills)
        if not fills and not order_update:
            return []
        applied: Applied = await self._db(
            self.ledger.apply,
            fills,
            base_assets=self._base_assets(),
            conversions=self._conversions(),
            client_order_id=client_order_id,
            order_update=order_update,
        )
        self._held.update(applied.quantities)
        self._cash = applied.cash
        if self._exposure_cache is not None:
            for symbol, qty in applied.quantities.items():
                mark = self._marks.get(symbol)
                if qty > 0 and mark is not None:
                    self._exposure_cache[symbol] = qty * mark.price
                else:
                    self._exposure_cache.pop(symbol, None)
        recorded = applied.fills
        for item in recorded:
            f = item.fill
            self._log.write(
                self._clock(),
                "fill",
                client_order_id=client_order_id,
                symbol=f.symbol,
                side=f.side.value,
                trade_id=f.trade_id,
                price=f.price,
                quantity=f.quantity,
                fee=f.fee,
                fee_asset=f.fee_asset,
                realised_pnl=item.realised_pnl,
            )
        return recorded

    async def _fills_of(self, result: OrderResult) -> list[Fill]:
        """The order's trades: those in the answer, or looked up by order id when the answer has none."""
        if result.fills or result.executed_quantity <= 0:
            return list(result.fills)
        try:
            trades = await self.exchange.trades(result.symbol, since=None)
            self._count("my_trades", "ok")
        except ExchangeError as exc:
            self._count("my_trades", type(exc).__name__)
            raise
        return [t for t in trades if t.order_id is not None and t.order_id == result.exchange_order_id]

    async def _apply_result(self, client_order_id: str, result: OrderResult) -> list[RecordedFill]:
        fills = await self._fills_of(result)
        recorded = await self._record(fills, client_order_id, {"status": result.status.value, "result": result})
        self._log.write(
            self._clock(),
            "order_" + result.status.value.lower(),
            client_order_id=client_order_id,
            symbol=result.symbol,
            side=result.side.value,
            exchange_order_id=result.exchange_order_id,
            executed_quantity=result.executed_quantity,
            quote_quantity=result.quote_quantity,
        )
        return recorded

    # reconciliation (backend/execution/reconcile.py) -------------------------------------------
    async def _resolve_open(self, orders: list[OpenOrder]) -> tuple[list[dict[str, Any]], list[str]]:
        return await self.reconciler.resolve_open(orders)

    async def reconcile(self) -> ReconcileReport:
        """Start-up: resolve open orders, recover missing fills, compare balances; report differences."""
        async with self.lock:
            return await self._reconcile()

    async def _reconcile(self) -> ReconcileReport:
        return await self.reconciler.reconcile()

    # the cycle --------------------------------------------------------------------------------
    async def run_cycle(self) -> CycleReport:
        async with self.lock:
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
        open_orders = await self._db(self.ledger.open_orders)
        if open_orders:
            _resolved, report.unresolved = await self._resolve_open(open_orders)
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
        positions: dict[str, PositionView] = await self._db(self.ledger.positions)
        ledger_cash: Decimal = await self._db(self.ledger.cash)
        self._cash = ledger_cash
        self._held = {symbol: pos.quantity for symbol, pos in positions.items()}
        self._exposure_cache = None
        quote = self.ledger.quote
        exchange_cash = account.balances[quote].free if quote in account.balances else ZERO
        cash = min(ledger_cash, exchange_cash)
        held: dict[str, Decimal] = {}
        for symbol, pos in positions.items():
            free = account.balances[pos.base_asset].free if pos.base_asset in account.balances else ZERO
            held[symbol] = max(min(pos.quantity, free), ZERO)
        report.dust = dust_holdings(
            {s: p.quantity for s, p in positions.items()}, {s: m.price for s, m in self._marks.items()}, snapshot.rules
        )
        if weights is None:
            report.status = "skipped"
            report.reason = "no universe selection yet"
            await self._value(report)
            return
        params = self._params()
        plan = plan_orders(
            cycle_id=str(report.run_id),
            weights=weights,
            positions=held,
            cash=cash,
            marks={s: m.price for s, m in self._marks.items()},
            rules=snapshot.rules,
            params=params,
        )
        report.planned = len(plan.orders)
        for s in plan.skipped:
            self._skip(report, s.symbol, s.side, s.notional, s.reason)
        halt = self._halt_reason()
        if halt:
            for order in plan.orders:
                self._skip(report, order.symbol, order.side.value, order.notional, f"kill switch on: {halt}")
                self._order_metric(order.side, "refused")
                self._log.write(
                    self._clock(),
                    "order_refused",
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    side=order.side.value,
                    quantity=order.quantity,
                    reason=f"kill switch on: {halt}",
                )
            report.status = "halted"
            report.reason = f"kill switch on: {halt}; nothing submitted"
            await self._value(report)
            return
        # every planned order is persisted (PENDING) before the first one is sent
        await self._db(
            self.ledger.save_orders,
            report.run_id,
            [
                {
                    "client_order_id": o.client_order_id,
                    "symbol": o.symbol,
                    "side": o.side.value,
                    "quantity": o.quantity,
                    "price": o.price,
                    "note": o.note,
                    "leader_epoch": self._epoch(),
                    "order_type": "LIMIT" if params.order_style == LIMIT_IOC else "MARKET",
                }
                for o in plan.orders
            ],
        )
        await self._submit_plan(report, plan)
        await self._value(report)

    def _halt_reason(self) -> str | None:
        if not self.guard.kill_switch_enabled():
            return None
        return self.guard.kill_switch_state().reason or "no reason given"

    def _skip(self, report: CycleReport, symbol: str, side: str, notional: Decimal, reason: str) -> None:
        report.skipped += 1
        report.skipped_orders.append(
            {"symbol": symbol, "side": side, "notional": decimal_text(notional.quantize(CENT)), "reason": reason}
        )

    async def _submit_plan(self, report: CycleReport, plan: OrderPlan) -> None:
        stop: str | None = None
        for order in plan.orders:
            if stop is not None:
                self._skip(report, order.symbol, order.side.value, order.notional, stop)
                await self._db(self.ledger.update_order, order.client_order_id, status=SKIPPED, error_message=stop)
                continue
            fitted = await self._fit_buy_to_cash(report, order) if order.side is OrderSide.BUY else order
            if fitted is None:
                await self._db(
                    self.ledger.update_order,
                    order.client_order_id,
                    status=SKIPPED,
                    error_message="insufficient cash after sells",
                )
                continue
            if fitted is not order:
                await self._db(self.ledger.resize_order, fitted.client_order_id, fitted.quantity, fitted.note)
            stop = await self._submit_one(report, fitted)

    async def _fit_buy_to_cash(self, report: CycleReport, order: PlannedOrder) -> PlannedOrder | None:
        """Sells may have freed less than planned; never send a buy the cash cannot pay for."""
        cash = self._cash
        params = self._params()
        margin = 1 + params.cost_margin_bps / Decimal(10_000)
        if order.quantity * order.price * margin <= cash:
            return order
        rules = self._rules.get(order.symbol)
        if rules is None:
            return None
        qty = quantize_quantity(rules, max(cash, ZERO) / (order.price * margin), OrderType.MARKET)
        if qty * order.price < params.min_notional or filter_failure(rules, qty, order.price, OrderType.MARKET):
            self._skip(report, order.symbol, order.side.value, order.notional, "insufficient cash after sells")
            return None
        note = "; ".join(x for x in (order.note, "cut to cash after sells") if x)
        return PlannedOrder(order.symbol, order.side, qty, order.price, order.client_order_id, note)

    async def _submit_one(self, report: CycleReport, order: PlannedOrder) -> str | None:
        """Persist, submit, record. Returns a reason to stop the cycle, or None to go on."""
        coid = order.client_order_id
        self._log.write(
            self._clock(),
            "order_planned",
            client_order_id=coid,
            symbol=order.symbol,
            side=order.side.value,
            quantity=order.quantity,
            price=order.price,
            note=order.note,
        )
        params = self._params()
        rules = self._rules.get(order.symbol)
        request = OrderRequest(
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            client_order_id=coid,
            reference_price=order.price,
            **style_fields(  # type: ignore[arg-type]
                params.order_style,
                order.side,
                order.price,
                params.max_slippage_bps,
                rules.tick_size if rules is not None else ZERO,
                quote_amount(order, params, self._exposure().get(order.symbol, ZERO), self._asks.get(order.symbol)),
            ),
        )
        sequence = self.guard.fill_sequence  # read before the ledger (see RiskContext)
        exposure = self._exposure()
        mark = self._marks.get(order.symbol)
        # independent of the planned price: the ticker's last trade price against the book mid
        reference = self._references.get(order.symbol) if mark is not None and mark.from_book else None
        context = RiskContext(
            now=self._clock(),
            reference_price=reference.price if reference is not None else None,
            reference_time=reference.time if reference is not None else None,
            positions=exposure,
            fill_sequence=sequence,
            price_time=mark.time if mark is not None else None,
        )
        recorded: list[RecordedFill] = []

        async def apply(res: OrderResult) -> Decimal:
            recorded.extend(await self._apply_result(coid, res))
            return sum((r.realised_pnl for r in recorded), ZERO)

        fenced = await self._fence(coid, request.quote_quantity)
        if fenced is not None:
            self._skip(report, order.symbol, order.side.value, order.notional, fenced)
            self._log.write(self._clock(), "order_fenced", client_order_id=coid, reason=fenced)
            report.status = "degraded"
            report.reason = fenced
            return fenced
        try:
            result = await self.exchange.submit_order(request, context, realised_pnl=apply)
            self._count("new_order", "ok")
        except RiskRefused as exc:
            decision = exc.decision
            rule = decision.rule.value if decision.rule is not None else "unknown"
            self._order_metric(order.side, "refused")
            reason = f"risk guard refused ({rule}): {decision.reason}"
            self._skip(report, order.symbol, order.side.value, order.notional, reason)
            await self._db(self.ledger.update_order, coid, status=REFUSED, error_message=reason)
            self._log.write(self._clock(), "order_refused", client_order_id=coid, rule=rule, reason=decision.reason)
            if rule == "kill_switch":
                report.status = "halted"
                report.reason = f"kill switch on: {decision.reason}"
                return report.reason
            return None
        except UnknownOutcomeError as exc:
            self._count("new_order", "unknown")
            return await self._unknown(report, order, exc)
        except OrderRejectedError as exc:
            self._count("new_order", "rejected")
            report.failed += 1
            self._order_metric(order.side, "rejected")
            await self._db(
                self.ledger.update_order,
                coid,
                status=OrderStatus.REJECTED.value,
                error_code=exc.code,
                error_message=str(exc),
            )
            self._log.write(self._clock(), "order_rejected", client_order_id=coid, code=exc.code, message=str(exc))
            report.errors[coid] = f"rejected {exc.code}: {exc}"
            return None
        except ExchangeConfigError as exc:
            self._count("new_order", "config_error")
            report.failed += 1
            self._order_metric(order.side, "failed")
            await self._db(self.ledger.update_order, coid, status=FAILED, error_code=exc.code, error_message=str(exc))
            self._log.write(self._clock(), "order_failed", client_order_id=coid, message=str(exc))
            report.status = "failed"
            report.errors[coid] = f"exchange configuration: {exc}"
            return f"halted: exchange configuration error ({exc})"
        except (RateLimitedError, TemporaryExchangeError) as exc:
            # nothing was placed (the adapter turns anything uncertain into UnknownOutcomeError)
            self._count("new_order", "rate_limited" if isinstance(exc, RateLimitedError) else "temporary")
            report.failed += 1
            self._order_metric(order.side, "failed")
            await self._db(self.ledger.update_order, coid, status=FAILED, error_code=exc.code, error_message=str(exc))
            self._log.write(self._clock(), "order_failed", client_order_id=coid, message=str(exc))
            report.status = "degraded"
            report.errors[coid] = str(exc)
            return f"stopped after exchange error: {exc}"
        report.submitted += 1
        self._order_metric(order.side, "submitted")
        if result.executed_quantity <= 0:
            await self._apply_result(coid, result)
        report.filled += len(recorded)
        self._order_metric(order.side, result.status.value.lower())
        self._observe_shortfall(report, order, result, recorded)
        return None

    def _observe_shortfall(
        self, report: CycleReport, order: PlannedOrder, result: OrderResult, recorded: list[RecordedFill]
    ) -> None:
        """The order's implementation shortfall against the price it was planned at, into the cycle's sum."""
        fees = sum((r.fee_quote for r in recorded), ZERO)
        found = shortfall_of(order.side.value, order.price, result.executed_quantity, result.quote_quantity, fees)
        if found is None:
            return
        report.shortfall.add(found)
        self._metrics.execution_shortfall_bps.labels(side=order.side.value).observe(float(found.bps))

    async def _fence(self, coid: str, quote_quantity: Decimal | None) -> str | None:
        """Immediately before sending: prove this process still leads, then claim the order
        (``PENDING → SENDING`` for this epoch, untouched). Returns why it must not be sent, or None."""
        if self._before_send is not None:
            await self._before_send(coid)
        if self._still_leads is not None and not await self._still_leads():
            return "fenced: this process no longer holds the leader lock; the order is left to the leader"
        if not await self._db(self.ledger.claim_for_sending, coid, self._epoch(), quote_quantity):
            return "fenced: the order was resolved by another leader (or changed) before it was sent"
        return None

    async def _unknown(self, report: CycleReport, order: PlannedOrder, exc: ExchangeError) -> str | None:
        coid = order.client_order_id
        await self._db(self.ledger.mark_unknown, coid, str(exc))
        self._log.write(self._clock(), "order_unknown", client_order_id=coid, symbol=order.symbol, message=str(exc))
        self._order_metric(order.side, "unknown")
        now = self._clock()
        resolved, unresolved = await self._resolve_open(
            [OpenOrder(coid, order.symbol, order.side, OrderStatus.UNKNOWN.value, order.quantity, now, now)]
        )
        if unresolved:
            report.unresolved.extend(unresolved)
            report.status = "degraded"
            report.failed += 1
            report.errors[coid] = f"unknown outcome: {exc}"
            return "an order's outcome is unknown; nothing more is sent until it is resolved"
        if resolved and resolved[0]["status"] == FAILED:
            # the exchange never saw it: nothing was placed
            report.failed += 1
            report.errors[coid] = f"not placed (looked up after: {exc})"
            self._order_metric(order.side, "failed")
            return None
        report.submitted += 1
        report.filled += int(resolved[0].get("fills_recorded", 0)) if resolved else 0
        self._order_metric(order.side, "submitted")
        return None

    async def _value(self, report: CycleReport) -> None:
        portfolio = await self.portfolio(refresh=False)
        report.equity = portfolio.equity
        report.gross_exposure = portfolio.gross_exposure
        report.cash = portfolio.cash
        self._metrics.portfolio_equity.set(float(portfolio.equity))
        self._metrics.execution_gross_exposure.set(float(portfolio.gross_exposure))
        await self._db(self.ledger.set_marks, {s: m.price for s, m in self._marks.items()})

    async def _finish(self, report: CycleReport) -> None:
        if report.status == "ok" and (report.failed or report.errors):
            report.status = "degraded"
        self._metrics.execution_cycle_shortfall_quote.set(float(report.shortfall.quote))
        self._metrics.execution_cycle_shortfall_bps.set(float(report.shortfall.bps or 0))
        if report.run_id is not None:
            await self._db(
                self.ledger.finish_run,
                report.run_id,
                status=report.status,
                equity=report.equity,
                gross_exposure=report.gross_exposure,
                orders_planned=report.planned,
                orders_submitted=report.submitted,
                orders_skipped=report.skipped,
                orders_failed=report.failed,
                details={
                    "reason": report.reason,
                    "skipped": report.skipped_orders,
                    "errors": report.errors,
                    "unresolved_orders": report.unresolved,
                    "dust": report.dust,
                    "shortfall": report.shortfall.as_dict(),
                },
                error=report.reason if report.status == "failed" else None,
            )
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
        reasons: list[str] = []
        rec = self.last_reconcile
        if rec is not None:
            if rec.error:
                reasons.append(f"start-up reconciliation failed: {rec.error}")
            if rec.unresolved:
                reasons.append(f"orders with unknown outcome: {', '.join(rec.unresolved)}")
        last = self.last_report
        if last is not None and last.status == "failed":
            reasons.append(f"last cycle failed: {last.reason}")
        if last is not None and last.unresolved:
            reasons.append(f"orders with unknown outcome: {', '.join(last.unresolved)}")
        return reasons

    def mark(self, symbol: str) -> Mark | None:
        return self._marks.get(symbol)

    def dust_of(self, symbol: str, quantity: Decimal, price: Decimal | None) -> str | None:
        """Why this holding is dust at the latest exchange rules, or None (see execution/dust.py)."""
        rules = self._rules.get(symbol)
        return None if rules is None else dust_reason(rules, quantity, price)

    def _exposure(self) -> dict[str, Decimal]:
        """Notional per symbol from this cycle's holdings at the latest marks (kept up to date by _record)."""
        if self._exposure_cache is None:
            out: dict[str, Decimal] = {}
            for symbol, qty in self._held.items():
                mark = self._marks.get(symbol)
                if qty > 0 and mark is not None:
                    out[symbol] = qty * mark.price
            self._exposure_cache = out
        return dict(self._exposure_cache)

    def exposure_by_symbol(self) -> dict[str, Decimal]:
        """Notional per symbol at the latest marks (the risk guard's `positions`)."""
        out: dict[str, Decimal] = {}
        for symbol, pos in self.ledger.positions().items():
            mark = self._marks.get(symbol)
            price = mark.price if mark is not None else (pos.last_price or pos.average_cost)
            if pos.quantity > 0:
                out[symbol] = pos.quantity * price
        return out

    async def portfolio(self, *, refresh: bool = True) -> Portfolio:
        if refresh:
            try:
                await self._refresh_market()
            except Exception as exc:  # show the last known marks rather than nothing
                log.warning("marks not refreshed for the portfolio view", extra={"error": str(exc)})
        positions: dict[str, PositionView] = await self._db(self.ledger.positions)
        cash: Decimal = await self._db(self.ledger.cash)
        contributed: Decimal = await self._db(self.ledger.contributed)
        values: list[PositionValue] = []
        gross = realised = unrealised = fees = ZERO
        for symbol, pos in positions.items():
            mark_obj = self._marks.get(symbol)
            mark = mark_obj.price if mark_obj is not None else pos.last_price
            price = mark if mark is not None else pos.average_cost
            value = pos.quantity * price
            upnl = pos.quantity * (price - pos.average_cost)
            gross += abs(value)
            realised += pos.realised_pnl
            unrealised += upnl
            fees += pos.fees_paid
            values.append(
                PositionValue(
                    symbol=symbol,
                    base_asset=pos.base_asset,
                    quantity=pos.quantity,
                    average_cost=pos.average_cost,
                    mark=mark,
                    market_value=value,
                    unrealised_pnl=upnl,
                    realised_pnl=pos.realised_pnl,
                    fees_paid=pos.fees_paid,
                )
            )
        balances: dict[str, dict[str, Decimal]] = {}
        if self._account is not None:
            balances = {
                a: {"free": b.free, "locked": b.locked} for a, b in sorted(self._account.balances.items()) if b.total
            }
        return Portfolio(
            exchange=self.exchange.name,
            quote_asset=self.ledger.quote,
            cash=cash,
            contributed=contributed,
            positions=values,
            equity=cash + sum((v.market_value for v in values), ZERO),
            gross_exposure=gross,
            realised_pnl=realised,
            unrealised_pnl=unrealised,
            fees_paid=fees,
            balances=balances,
            balances_as_of=self._account.taken_at if self._account else None,
            marks_as_of=self._marks_at,
        )


__all__ = [
    "CycleReport",
    "ExecutionService",
    "Mark",
    "PlanParams",
    "Portfolio",
    "ReconcileReport",
    "SkippedOrder",
    "marks_from_snapshot",
]
