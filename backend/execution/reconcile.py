"""Reconciliation: unknown outcomes with a grace window, late fills, fencing, start-up adoption.

An order whose outcome is not final (PENDING, SENDING, UNKNOWN, NEW, PARTIALLY_FILLED) is looked up
by its client order id, on a backoff. What it finds decides:

- found → its fills and state go to the ledger and the risk guard (a late fill, without a restart);
- not found, still PENDING (saved, never claimed for sending) → FAILED in one conditional statement
  (``status = PENDING``): the leader that planned it can no longer claim it (fencing), so nothing
  can be sent after the lookup said "never placed";
- not found, SENDING or UNKNOWN → stays unknown for ``QT_EXECUTION_UNKNOWN_GRACE_SECONDS`` (the
  exchange may still execute a request that timed out); after the window the account's orders for
  the symbol are searched by client order id before it is declared FAILED.

Resolved either way, the risk reservation is released at once.
Fencing: immediately before a send the sender proves it still leads and claims the order
(``PENDING → SENDING`` for its epoch, untouched) in one statement. Start-up reconciliation (open
orders, missing fills, the risk guard's records, balances) is ``backend/execution/startup.py``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from backend.exchanges.base import OrderRequest, OrderResult, OrderStatus, OrderType
from backend.exchanges.errors import ExchangeError
from backend.execution.ledger_records import FAILED, PENDING, OpenOrder, RecordedFill
from backend.execution.startup import ReconcileReport, reconcile_at_startup

if TYPE_CHECKING:
    from backend.execution.planner import PlannedOrder
    from backend.execution.reports import CycleReport
    from backend.execution.service import ExecutionService

log = logging.getLogger(__name__)
ZERO = Decimal(0)
MAX_BACKOFF_SECONDS = 30.0
NOT_FOUND = "looked up after an unknown outcome: the exchange has no such order"


def backoff(lookups: int) -> timedelta:
    """1, 2, 4, ... seconds between lookups of an unknown order, at most MAX_BACKOFF_SECONDS."""
    return timedelta(seconds=min(2.0 ** max(lookups, 0), MAX_BACKOFF_SECONDS))


class Reconciler:
    """The reconciliation half of an ExecutionService (it shares the service's lock and state)."""

    def __init__(self, service: ExecutionService) -> None:
        self.s = service

    # open orders ------------------------------------------------------------------------------
    async def resolve_open(self, orders: list[OpenOrder]) -> tuple[list[dict[str, Any]], list[str]]:
        """Look every non-final order up by client order id; returns (resolved, still unknown)."""
        resolved: list[dict[str, Any]] = []
        unresolved: list[str] = []
        for order in orders:
            outcome = await self._resolve_one(order)
            if outcome is None:
                unresolved.append(order.client_order_id)
            else:
                resolved.append(outcome)
                # found, still working on the exchange: unresolved, unless it is a maker order
                # resting on the book (tended by backend/execution/resting.py, state known)
                if not outcome.get("final", True) and not outcome.get("resting", False):
                    unresolved.append(order.client_order_id)
        return resolved, unresolved

    async def _resolve_one(self, order: OpenOrder) -> dict[str, Any] | None:
        s = self.s
        coid = order.client_order_id
        now = s._clock()
        if order.next_lookup_at is not None and now < order.next_lookup_at:
            return None  # not due yet (backoff)
        try:
            result = await s.exchange.query_order(order.symbol, coid)
            s._count("query_order", "ok")
        except ExchangeError as exc:
            s._count("query_order", type(exc).__name__)
            await s._db(s.ledger.schedule_lookup, coid, now + backoff(order.lookups))
            return None
        if result is None and order.status != PENDING:
            since = order.unknown_since or order.created_at or now
            if (now - since).total_seconds() < s._unknown_grace():
                # the exchange may still execute a request that timed out: keep it unknown
                await s._db(s.ledger.schedule_lookup, coid, now + backoff(order.lookups))
                return None
            result = await self._search_orders(order)
        if result is None:
            # PENDING: never claimed for sending, and the conditional update fences its leader out
            if not await s._db(s.ledger.fail_if_status, coid, order.status, NOT_FOUND):
                return None  # someone claimed or answered it meanwhile: look again next time
            s.guard.release(coid)  # resolved: nothing was placed, nothing stays reserved
            s._log.write(now, "order_not_found", client_order_id=coid, symbol=order.symbol)
            return {"client_order_id": coid, "status": FAILED}
        recorded = await self.apply_found(order, result)
        return {
            "client_order_id": coid,
            "status": result.status.value,
            "fills_recorded": len(recorded),
            "final": result.status.is_final,
            "resting": result.status.is_open
            and OrderType.LIMIT_MAKER in (result.order_type, OrderType(order.order_type)),
        }

    async def _search_orders(self, order: OpenOrder) -> OrderResult | None:
        """Before declaring an unknown order failed: the account's orders for the symbol, by client id."""
        s = self.s
        try:
            found = await s.exchange.orders(order.symbol, since=order.created_at)
            s._count("all_orders", "ok")
        except ExchangeError as exc:
            s._count("all_orders", type(exc).__name__)
            raise
        return next((o for o in found if o.client_order_id == order.client_order_id), None)

    async def apply_found(self, order: OpenOrder, result: OrderResult) -> list[RecordedFill]:
        """A found order: its fills and state to the ledger, its execution to the guard, which
        checks its average fill price against ``order.reference_price`` (halts when outside)."""
        s = self.s
        coid = order.client_order_id
        request = OrderRequest(
            order.symbol,
            order.side,
            order.requested_quantity,
            coid,
            order_type=OrderType(order.order_type),
            price=result.price,
            reference_price=order.reference_price,
        )
        recorded: list[RecordedFill] = []

        async def apply(res: OrderResult) -> Decimal:
            recorded.extend(await s.recorder.apply_result(coid, res))
            # the order's whole realised PnL: the guard's record of it replaces the one it had, and
            # a resting order is found again and again, a few fills at a time
            pnl: Decimal = await s._db(s.ledger.order_realised_pnl, coid)
            return pnl

        if result.executed_quantity > 0:
            # the fill price is checked against the planned mark (reference_price), as when answered
            await s.exchange.record_reconciled(
                request, result, now=s._clock(), realised_pnl=apply, recorded_quantity=order.executed_quantity
            )
        else:
            await s.recorder.apply_result(coid, result)
            if result.status.is_final:
                s.guard.release(coid)
            elif result.status.is_open:  # resting (after a restart too): reserve what may still fill
                s.guard.hold_open(request, result, now=s._clock())
        return recorded

    # fencing and a lost answer ------------------------------------------------------------------
    async def fence(self, coid: str, quote_quantity: Decimal | None) -> str | None:
        """Immediately before sending: prove this process still leads, then claim the order
        (``PENDING → SENDING`` for this epoch, untouched). Returns why it must not be sent, or None."""
        s = self.s
        if s._before_send is not None:
            await s._before_send(coid)
        if s._still_leads is not None and not await s._still_leads():
            return "fenced: this process no longer holds the leader lock; the order is left to the leader"
        if not await s._db(s.ledger.claim_for_sending, coid, s._epoch(), quote_quantity):
            return "fenced: the order was resolved by another leader (or changed) before it was sent"
        return None

    async def after_unknown(self, report: CycleReport, order: PlannedOrder, exc: ExchangeError) -> str | None:
        """The send's answer was lost: UNKNOWN, looked up at once; returns a reason to stop the cycle."""
        s = self.s
        coid = order.client_order_id
        await s._db(s.ledger.mark_unknown, coid, str(exc))
        s._log.write(s._clock(), "order_unknown", client_order_id=coid, symbol=order.symbol, message=str(exc))
        s._order_metric(order.side, "unknown")
        now = s._clock()
        resolved, unresolved = await self.resolve_open(
            [
                OpenOrder(
                    coid,
                    order.symbol,
                    order.side,
                    OrderStatus.UNKNOWN.value,
                    order.quantity,
                    now,
                    now,
                    reference_price=order.price,  # the mark the request was sent with: the fill is checked against it
                )
            ]
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
            s._order_metric(order.side, "failed")
            return None
        report.submitted += 1
        report.filled += int(resolved[0].get("fills_recorded", 0)) if resolved else 0
        s._order_metric(order.side, "submitted")
        return None

    # start-up (backend/execution/startup.py) ------------------------------------------------------
    async def reconcile(self) -> ReconcileReport:
        """Resolve open orders, recover missing fills, restore the guard, compare balances."""
        return await reconcile_at_startup(self.s)


__all__ = ["MAX_BACKOFF_SECONDS", "NOT_FOUND", "ReconcileReport", "Reconciler", "backoff"]
