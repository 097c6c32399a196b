"""Orders that rest on the book across cycles (maker_first): tended each check, cancelled by the
kill switch, finished with limit_ioc.

Each check (a cycle, or the resting-order job between cycles) takes every LIMIT_MAKER the ledger
holds as open and
1. looks it up by client order id: new fills go to the ledger and the risk guard, whose
   reservation follows the open quantity (``RiskGuard.hold_open``);
2. when the planned order it works is older than QT_EXECUTION_MAKER_TIMEOUT_SECONDS: cancels it
   and sends the unfilled rest as a limit_ioc child (``<planned id>-t``);
3. else, when the book has left it behind (a better bid above a resting buy, a better ask below a
   resting sale) and fewer than QT_EXECUTION_MAKER_REPRICES re-prices were made: cancels it and
   places the rest as a new LIMIT_MAKER at the new best (``<planned id>-m1``, ``-m2`` ...);
4. else leaves it: no new order is planned on that symbol while it rests.
While the kill switch is on, resting orders are cancelled (QT_KILL_SWITCH_CANCELS_OPEN) or, with
that setting off, only looked up (step 1): they stay on the book, no timeout, no re-price.
A maker order the exchange refuses because the book crossed it (-2010 "Order would immediately
match and take.", not -2010 for want of balance) is finished at once the same way. Children are
saved before they are sent and go through the risk guard like any order. Nothing here waits or
sleeps: what a check cannot decide yet, the next check does.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from backend.exchanges.base import OrderRequest, OrderResult, OrderSide, OrderStatus, OrderType
from backend.exchanges.errors import ExchangeError
from backend.exchanges.filters import filter_failure, quantize_price, quantize_quantity
from backend.execution.ledger_records import ZERO, OpenOrder
from backend.execution.planner import OrderPlan, PlannedOrder
from backend.execution.reports import CycleReport
from backend.execution.styles import LIMIT_IOC, MAKER_FIRST, child_order_id
from config.settings import Settings

if TYPE_CHECKING:
    from backend.execution.service import ExecutionService

log = logging.getLogger(__name__)


def resting_check_seconds(settings: Settings) -> int:
    """The `execution-resting` job's interval: QT_EXECUTION_RESTING_CHECK_SECONDS while orders may
    rest or be sliced (maker_first, QT_EXECUTION_SLICE_NOTIONAL), else 0 (the job does not run).
    The scheduler and the backtest engine both read it, so the backtest checks at the job's cadence."""
    ex = settings.execution
    if ex.order_style == MAKER_FIRST or ex.slice_notional > 0:
        return ex.resting_check_seconds
    return 0


def left_behind(side: OrderSide, price: Decimal, top: tuple[Decimal, Decimal]) -> bool:
    """The book moved away: a better bid than a resting buy, a better ask than a resting sale."""
    bid, ask = top
    return bid > price if side is OrderSide.BUY else ask < price


class RestingOrders:
    """The resting-order part of an ExecutionService (it shares the service's lock and state)."""

    def __init__(self, service: ExecutionService) -> None:
        self.s = service

    async def check(self, report: CycleReport, open_orders: list[OpenOrder]) -> dict[str, str]:
        """The resting orders among the ledger's open orders: cancelled when the kill switch is on
        (and QT_KILL_SWITCH_CANCELS_OPEN), tended otherwise; returns the symbols still busy."""
        s = self.s
        resting = [o for o in open_orders if o.rests]
        if not resting:
            return {}
        if s._halt_reason() and s.cancels_open():
            await self.cancel_all("kill switch on")
            return {}
        return await self.tend(report, resting)

    async def between_cycles(self) -> dict[str, str]:
        """The resting-order job's check (under the service's lock): resting orders tended, due
        slices sent; a quick no-op while nothing rests and nothing is sliced."""
        s = self.s
        orders = await s._db(s.ledger.open_orders)
        if not any(o.rests for o in orders) and not await s._db(s.ledger.working_orders):
            return {}
        await s._refresh_market()
        report = CycleReport(run_id=None, status="ok")
        busy = await self.check(report, orders)
        busy.update(await s.slicer.tend(report, await s._db(s.ledger.open_orders)))
        return busy

    def skip_busy(self, report: CycleReport, plan: OrderPlan, busy: dict[str, str]) -> None:
        """One order at a time per symbol: a resting order is finished before anything new is sent."""
        for o in plan.orders:
            if o.symbol in busy:
                self.s._skip(
                    report,
                    o.symbol,
                    o.side.value,
                    o.notional,
                    f"order {busy[o.symbol]} is still working on this symbol",
                )
        plan.orders[:] = [o for o in plan.orders if o.symbol not in busy]

    async def tend(self, report: CycleReport, orders: list[OpenOrder]) -> dict[str, str]:
        """Look up, re-price or finish each resting order (only look up while the kill switch is
        on); returns symbol -> the client id of the order still resting there (no new order is
        planned on those symbols)."""
        s = self.s
        params = s._params()
        busy: dict[str, str] = {}
        for order in orders:
            if not order.rests:
                continue
            result = await self._query(order)
            if result is None:
                busy[order.symbol] = order.client_order_id  # not known now: leave it to the next check
                continue
            await s.reconciler.apply_found(order, result)
            if not result.status.is_open:
                continue
            if s._halt_reason() is not None:
                # the kill switch is on and does not cancel (QT_KILL_SWITCH_CANCELS_OPEN off): the
                # order stays on the book and may still fill; no timeout cancel, no re-price
                busy[order.symbol] = order.client_order_id
                continue
            chain = await s._db(s.ledger.order_chain, order.root)
            started = chain[0].created_at if chain and chain[0].created_at is not None else order.created_at
            makers = sum(1 for c in chain if c.order_type == OrderType.LIMIT_MAKER.value)
            age = (s._clock() - started).total_seconds() if started is not None else 0.0
            top = s._tops.get(order.symbol)
            price = result.price
            if age >= params.maker_timeout_seconds:
                step, suffix = LIMIT_IOC, "t"
            elif (
                makers - 1 < params.maker_reprices
                and top is not None
                and price is not None
                and left_behind(order.side, price, top)
            ):
                step, suffix = MAKER_FIRST, f"m{makers}"
            else:
                busy[order.symbol] = order.client_order_id
                continue
            final = await self.cancel(order)
            if final is None or final.status.is_open:
                busy[order.symbol] = order.client_order_id
                continue
            rest = order.requested_quantity - final.executed_quantity
            placed = await self.child(report, order, rest, step, suffix)
            if placed is not None and placed.status.is_open:
                busy[order.symbol] = child_order_id(order.root, suffix)
        return busy

    async def _query(self, order: OpenOrder) -> OrderResult | None:
        s = self.s
        try:
            result = await s.exchange.query_order(order.symbol, order.client_order_id)
            s._count("query_order", "ok")
        except ExchangeError as exc:
            s._count("query_order", type(exc).__name__)
            log.warning("resting order not looked up", extra={"client_order_id": order.client_order_id})
            return None
        return result

    async def cancel(self, order: OpenOrder) -> OrderResult | None:
        """Cancel on the exchange and record what it says (fills up to the cancel included);
        None when the exchange could not be reached (the next check tries again)."""
        s = self.s
        try:
            final = await s.exchange.cancel_order(order.symbol, order.client_order_id)
            s._count("cancel_order", "ok")
        except ExchangeError as exc:
            s._count("cancel_order", type(exc).__name__)
            log.warning("resting order not cancelled", extra={"client_order_id": order.client_order_id})
            return None
        if final is not None:
            await s.reconciler.apply_found(order, final)
            s._log.write(
                s._clock(),
                "order_cancel",
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                status=final.status.value,
                executed_quantity=final.executed_quantity,
            )
        return final

    async def child(
        self, report: CycleReport, parent: OpenOrder, rest: Decimal, style: str, suffix: str
    ) -> OrderResult | None:
        """Save and send the unfilled rest of `parent` as a child order; None when nothing is sent
        (the rest is below the exchange's minimums, the kill switch is on, or the send failed)."""
        s = self.s
        rules = s._rules.get(parent.symbol)
        mark = s._marks.get(parent.symbol)
        if rules is None or mark is None or rest <= 0:
            return None
        kind = OrderType.LIMIT_MAKER if style == MAKER_FIRST else OrderType.LIMIT
        qty = quantize_quantity(rules, rest, kind)
        if qty <= 0 or filter_failure(rules, qty, quantize_price(rules, mark.price), kind):
            log.info("rest of a maker order too small to send", extra={"client_order_id": parent.client_order_id})
            return None
        if s._halt_reason() is not None:
            return None
        coid = child_order_id(parent.root, suffix)
        await s._db(
            s.ledger.save_orders,
            report.run_id,
            [
                {
                    "client_order_id": coid,
                    "symbol": parent.symbol,
                    "side": parent.side.value,
                    "quantity": qty,
                    "price": parent.reference_price or mark.price,  # the planned order's arrival mark
                    "note": "maker timeout: rest sent as limit_ioc" if kind is OrderType.LIMIT else "maker re-priced",
                    "leader_epoch": s._epoch(),
                    "order_type": kind.value,
                    "parent_client_order_id": parent.root,
                }
            ],
        )
        planned = PlannedOrder(parent.symbol, parent.side, qty, mark.price, coid)
        return await s.submitter.send(report, planned, style=style, parent=parent.root)

    async def cancel_all(self, reason: str) -> list[str]:
        """The kill switch: cancel every order of this service still open on the exchange (the
        ledger's resting orders, and any open order the exchange lists under a client id the ledger
        knows); returns the client ids cancelled."""
        s = self.s
        cancelled: list[str] = []
        orders = [
            o
            for o in await s._db(s.ledger.open_orders)
            if o.status in (OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)
        ]
        for order in orders:
            final = await self.cancel(order)
            if final is not None and not final.status.is_open:
                cancelled.append(order.client_order_id)
        try:
            listed = await s.exchange.open_orders()
        except (ExchangeError, NotImplementedError):
            listed = []
        known = set(await s._db(s.ledger.client_order_ids)) - set(cancelled)
        for other in listed:
            if other.client_order_id in known:
                try:
                    await s.exchange.cancel_order(other.symbol, other.client_order_id)
                    cancelled.append(other.client_order_id)
                except ExchangeError:
                    log.warning("open order not cancelled", extra={"client_order_id": other.client_order_id})
        if cancelled:
            log.warning("open orders cancelled", extra={"reason": reason, "orders": ",".join(cancelled)})
            s._log.write(s._clock(), "orders_cancelled", reason=reason, client_order_ids=",".join(cancelled))
        return cancelled


MAKER_CROSSED = "immediately match"  # Binance -2010 "Order would immediately match and take."


def maker_request_ok(request: OrderRequest, code: int | None, message: str) -> bool:
    """A LIMIT_MAKER refused because the book crossed it: finish it as a taker. Binance answers
    -2010 for an unaffordable order too; that one is not sent again as a taker (it would only be
    refused again, a second order through the guard for nothing)."""
    return request.order_type is OrderType.LIMIT_MAKER and code == -2010 and MAKER_CROSSED in message.lower()


__all__ = ["ZERO", "RestingOrders", "left_behind", "maker_request_ok", "resting_check_seconds"]
