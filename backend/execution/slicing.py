"""Sliced orders (QT_EXECUTION_SLICE_NOTIONAL): a planned order above the slice notional is split
into child orders of about that size, sent one after another over the cycle (TWAP).

The planned order is saved as the parent (status WORKING, never sent itself); its slices are
``<planned id>-s1``, ``-s2`` ... (each its own client order id, saved before it is sent, through
the risk guard in the configured order style). Slice k of n is due ``(k - 1) × window / n`` after
the parent was planned, the window being the rebalance interval; the cycle sends the first, the
resting-order job (or the next cycle) the others when due — nothing waits. A slice is sent only
once the previous one is final (one order per symbol), and nothing new is planned on the symbol
while the parent works. What a slice does not fill is not chased; once every slice is sent and
final the parent becomes SLICED (its error_message says how much its slices executed; it is never
an exchange order, so the metrics count only its slices). The kill switch stops the remaining
slices (parent CANCELED).
"""

from __future__ import annotations

import logging
import math
import re
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from backend.amounts import decimal_text
from backend.exchanges.base import OrderType
from backend.exchanges.filters import filter_failure, floor_to_step, quantity_step, quantize_price
from backend.execution.ledger_records import OPEN_STATES, WORKING, ZERO, OpenOrder
from backend.execution.planner import OrderPlan, PlannedOrder, PlanParams
from backend.execution.styles import child_order_id
from backend.market.types import SymbolRules

if TYPE_CHECKING:
    from backend.execution.reports import CycleReport
    from backend.execution.service import ExecutionService

log = logging.getLogger(__name__)
SLICE = re.compile(r"-s\d+$")
SLICED = "SLICED"  # a parent whose slices are all sent and final
ORDER_TYPES = {"limit_ioc": "LIMIT", "maker_first": "LIMIT_MAKER"}  # the ledger's order type per style
MAX_SLICES = 1000  # slices of one order at the most (each is an order of its own, one per check)


def split(quantity: Decimal, price: Decimal, slice_notional: Decimal, rules: SymbolRules) -> list[Decimal]:
    """Slice quantities: as many as the notional needs (at most MAX_SLICES), each on the step and
    above the exchange's minimums (fewer slices when they would not be), the last one taking the
    remainder."""
    if slice_notional <= 0 or quantity * price <= slice_notional:
        return [quantity]
    step = quantity_step(rules, OrderType.MARKET)
    check = quantize_price(rules, price)
    n = min(math.ceil(quantity * price / slice_notional), MAX_SLICES)
    # counts no filter could pass are skipped, not tried one by one (a slice notional of 0.000001
    # made that a loop of billions): a slice is at least one step and, where the exchange's
    # minimum notional applies to market orders, at least that
    if step > 0:
        n = min(n, int(quantity / step))
    if rules.min_notional > 0 and rules.min_notional_applies_to_market:
        n = min(n, int(quantity * check / rules.min_notional))
    while n > 1:
        each = floor_to_step(quantity / n, step)
        if each > 0 and filter_failure(rules, each, check, OrderType.MARKET) is None:
            return [each] * (n - 1) + [quantity - each * (n - 1)]
        n -= 1
    return [quantity]


class Slicer:
    """The slicing part of an ExecutionService (it shares the service's lock and state)."""

    def __init__(self, service: ExecutionService) -> None:
        self.s = service
        self._parents: dict[str, str] = {}  # first slice's client id -> its parent's

    def parent_of(self, client_order_id: str) -> str | None:
        return self._parents.get(client_order_id)

    async def slice_plan(self, report: CycleReport, plan: OrderPlan, params: PlanParams) -> None:
        """Replace each planned order above the slice notional by its first slice; the planned
        order itself is saved as the WORKING parent."""
        s = self.s
        if params.slice_notional <= 0:
            return
        out: list[PlannedOrder] = []
        parents: list[dict[str, object]] = []
        for order in plan.orders:
            rules = s._rules.get(order.symbol)
            parts = split(order.quantity, order.price, params.slice_notional, rules) if rules else [order.quantity]
            if len(parts) == 1:
                out.append(order)
                continue
            parents.append(
                {
                    "client_order_id": order.client_order_id,
                    "symbol": order.symbol,
                    "side": order.side.value,
                    "quantity": order.quantity,
                    "price": order.price,
                    "note": "; ".join(x for x in (order.note, f"sliced into {len(parts)}") if x),
                    "leader_epoch": s._epoch(),
                    "order_type": ORDER_TYPES.get(params.order_style, "MARKET"),
                    "status": WORKING,
                }
            )
            first = child_order_id(order.client_order_id, "s1")
            self._parents[first] = order.client_order_id
            out.append(PlannedOrder(order.symbol, order.side, parts[0], order.price, first, order.note))
        if parents:
            await s._db(s.ledger.save_orders, report.run_id, parents)
        plan.orders[:] = out

    async def save_plan(self, report: CycleReport, plan: OrderPlan, params: PlanParams) -> None:
        """Persist every planned order (PENDING; a first slice names its parent) before any is sent."""
        s = self.s
        await s._db(
            s.ledger.save_orders,
            report.run_id,
            [
                {
                    "client_order_id": o.client_order_id,
                    "symbol": o.symbol,
                    "side": o.side.value,
                    "quantity": o.quantity,
                    "price": o.price,
                    "note": o.note,
                    "leader_epoch": s._epoch(),
                    "order_type": ORDER_TYPES.get(params.order_style, "MARKET"),
                    "parent_client_order_id": self.parent_of(o.client_order_id),
                }
                for o in plan.orders
            ],
        )

    async def tend(self, report: CycleReport, open_orders: list[OpenOrder]) -> dict[str, str]:
        """Send the slices that are due; returns symbol -> the parent still working there."""
        s = self.s
        working: list[OpenOrder] = await s._db(s.ledger.working_orders)
        busy: dict[str, str] = {}
        if not working:
            return busy
        params = s._params()
        now = s._clock()
        open_symbols = {o.symbol for o in open_orders if o.status in OPEN_STATES}
        for parent in working:
            coid = parent.client_order_id
            if s._halt_reason() is not None:
                await s._db(s.ledger.update_order, coid, status="CANCELED", error_message="kill switch on")
                continue
            chain = await s._db(s.ledger.order_chain, coid)
            slices = [c for c in chain if c.parent_client_order_id == coid and SLICE.search(c.client_order_id)]
            if parent.symbol in open_symbols or any(c.status in OPEN_STATES for c in slices):
                busy[parent.symbol] = coid  # one order at a time: the slice before is not final yet
                continue
            rules = s._rules.get(parent.symbol)
            mark = s._marks.get(parent.symbol)
            price = parent.reference_price or (mark.price if mark else ZERO)
            parts = split(parent.requested_quantity, price, params.slice_notional, rules) if rules else []
            sent = sum((c.requested_quantity for c in slices), ZERO)
            left = parent.requested_quantity - sent
            if rules is None or mark is None or len(slices) >= len(parts) or left <= 0:
                await self._finish(parent, slices)
                continue
            window = timedelta(seconds=params.slice_window_seconds)
            due = (parent.created_at or now) + window * len(slices) / len(parts)
            if now < due:
                busy[parent.symbol] = coid
                continue
            last = len(slices) == len(parts) - 1
            qty = left if last else min(parts[len(slices)], left)
            child = child_order_id(coid, f"s{len(slices) + 1}")
            await s._db(
                s.ledger.save_orders,
                report.run_id,
                [
                    {
                        "client_order_id": child,
                        "symbol": parent.symbol,
                        "side": parent.side.value,
                        "quantity": qty,
                        "price": parent.reference_price,  # the parent's arrival mark (shortfall)
                        "note": f"slice {len(slices) + 1} of {len(parts)}",
                        "leader_epoch": s._epoch(),
                        "order_type": ORDER_TYPES.get(params.order_style, "MARKET"),
                        "parent_client_order_id": coid,
                    }
                ],
            )
            await s.submitter.send(report, PlannedOrder(parent.symbol, parent.side, qty, mark.price, child), style=None)
            busy[parent.symbol] = coid
        return busy

    async def _finish(self, parent: OpenOrder, slices: list[OpenOrder]) -> None:
        s = self.s
        executed = ZERO
        for sl in slices:  # a slice's own maker children (re-priced, taker finish) count too
            executed += sum((c.executed_quantity for c in await s._db(s.ledger.order_chain, sl.client_order_id)), ZERO)
        # final, and never an exchange order itself: its slices carry the fills (and the metrics)
        summary = f"slices executed {decimal_text(executed)} of {decimal_text(parent.requested_quantity)}"
        await s._db(s.ledger.update_order, parent.client_order_id, status=SLICED, error_message=summary)
        log.info("sliced order done", extra={"client_order_id": parent.client_order_id, "summary": summary})


__all__ = ["Slicer", "split"]
