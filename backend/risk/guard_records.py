"""The risk guard's recording of executions: one record per order and UTC day of its fills (so
the daily figures count every fill on its own day, as the ledger does), written to the state store
first, then to the days the checks read. ``RiskGuard`` (backend/risk/guard.py) adds the checks and
the snapshot; the concurrency model is described there, the split by day in day_parts.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal

from backend.exchanges.base import OrderRequest, OrderResult, OrderSide
from backend.risk.day_parts import split_execution
from backend.risk.guard_core import GuardCore, _Reservation, day_start
from backend.risk.models import ZERO, DayStats, RiskStateUnavailable, TradeRecord

log = logging.getLogger(__name__)


class GuardRecords(GuardCore):
    """Recording what orders executed, restoring it from the ledger, holding resting orders."""

    def release(self, client_order_id: str) -> bool:
        """Drop the reservation of an order that was not placed (refused by the exchange, not sent)."""
        with self._lock:
            return self._reservations.pop(client_order_id, None) is not None

    def record_fill_sync(self, record: TradeRecord) -> bool:
        """Persist one record (an order's executions on one UTC day) and its realised PnL, then
        release the order's reservation.

        Returns False when that record was already there (idempotent: nothing changes, or the store
        is corrected to the figures given and the days re-derived)."""
        if record.time.tzinfo is None:
            raise ValueError("TradeRecord.time must be timezone-aware UTC")
        return self._record(record.client_order_id, lambda _before: [record], replace=False)

    def record_result_sync(
        self, order: OrderRequest, result: OrderResult, *, realised_pnl: Decimal, now: datetime
    ) -> bool:
        """Record what an order executed so far (``result``'s cumulative figures; ``realised_pnl``:
        the ledger's PnL of all its fills so far), one record per UTC day of its fills, and release
        it; an order still open keeps a reservation for its open quantity (``hold_open``). True when
        the order had no record yet."""
        if result.executed_quantity <= 0:
            return self._hold_or_release(order, result, now)
        # dated by the fills (the exchange's transaction times), not by the check
        at = max((f.time for f in result.fills), default=None) or result.time or now

        def records(before: Mapping[date, TradeRecord]) -> list[TradeRecord]:
            return split_execution(
                order.client_order_id,
                order.symbol,
                order.side,
                quantity=result.executed_quantity,
                notional=result.quote_quantity,
                realised_pnl=realised_pnl,
                fills=result.fills,
                at=at,
                before=before,
            )

        added = self._record(order.client_order_id, records, replace=True)
        if result.status.is_open:
            self.hold_open(order, result, now=now)
        return added

    async def record_result(
        self, order: OrderRequest, result: OrderResult, *, realised_pnl: Decimal, now: datetime
    ) -> bool:
        """``record_result_sync`` with its I/O in a worker thread (none when nothing executed)."""
        if result.executed_quantity <= 0:
            return self._hold_or_release(order, result, now)
        return await asyncio.to_thread(self.record_result_sync, order, result, realised_pnl=realised_pnl, now=now)

    def _hold_or_release(self, order: OrderRequest, result: OrderResult, now: datetime) -> bool:
        """An order that executed nothing: it still rests on the book, or it is over."""
        if result.status.is_open:
            self.hold_open(order, result, now=now)
        else:
            self.release(order.client_order_id)
        return False

    def _record(
        self, coid: str, records_of: Callable[[Mapping[date, TradeRecord]], list[TradeRecord]], *, replace: bool
    ) -> bool:
        """Write an order's records (``records_of`` its records so far, by day) and update the days;
        ``replace``: the order's days not among them are deleted."""
        with self._write_lock:  # the only writer of _parts: reading them here needs no _lock
            before = dict(self._parts.get(coid, {}))
            records = records_of(before)
            keys = {r.key for r in records}
            drop = [r.key for r in before.values() if r.key not in keys] if replace else []
            try:
                outcomes = self._store.save_trades(records, drop)
                added = bool(outcomes) and not drop and all(o == "added" for o in outcomes)
                if not added and (drop or any(o != "same" for o in outcomes)):
                    # the order had records with other figures (a later fill, a ledger write that
                    # failed first): the days are re-derived from the store
                    self._load_locked()
            except Exception as exc:
                # the fill is real but unrecorded: stop trading until the store is back
                self._mark_store_error(exc)
                raise RiskStateUnavailable(f"fill not recorded: {self._store_error}") from exc
            with self._lock:
                self._reservations.pop(coid, None)
                if added:
                    delta = ZERO
                    for record in records:
                        day = record.day
                        self._days[day] = self._days.get(day, DayStats(day)).add(record)
                        self._parts.setdefault(coid, {})[day] = record
                        self._protections.observe(record)
                        delta += record.notional if record.side is OrderSide.BUY else -record.notional
                    self._fill_seq += 1
                    self._recent.append((self._fill_seq, records[0].symbol, delta))
                    self._prune_days(max(r.day for r in records))
        self._publish_state()
        return added

    def restore_trades_sync(self, records: list[TradeRecord]) -> int:
        """Make the store agree with the ledger's recent executions (one record per order and UTC
        day, ``Ledger.executions_since``); returns how many records it changed.

        The ledger is the one truth for realised PnL: an execution the store lacks (a crash between
        the two writes) is added, one it holds with other figures (a ledger write that failed at
        first and was completed by reconciliation, a part dated on the wrong day) is corrected, a
        day the ledger's order does not have is deleted, and the days are re-derived.
        Executions at or before the newest POST /risk/reset stay cleared: the operator reset them.
        """
        if not records:
            return 0
        with self._write_lock:
            try:
                reset_at = self._store.last_reset()
                wanted = [r for r in records if reset_at is None or r.time > reset_at]
                changed = 0
                if wanted:
                    orders, keys = {r.client_order_id for r in wanted}, {r.key for r in wanted}
                    stored = self._store.trades_since(day_start(min(r.day for r in wanted)))
                    drop = [
                        r.key
                        for r in stored
                        if r.client_order_id in orders and r.key not in keys and (reset_at is None or r.time > reset_at)
                    ]
                    outcomes = self._store.save_trades(wanted, drop)
                    changed = sum(1 for outcome in outcomes if outcome != "same") + len(drop)
                if changed:
                    self._load_locked()
            except Exception as exc:
                self._mark_store_error(exc)
                raise RiskStateUnavailable(f"executions not restored: {self._store_error}") from exc
        if changed:
            log.warning("risk records restored from the ledger", extra={"count": changed})
        return changed

    async def record_fill(self, record: TradeRecord) -> bool:
        return await asyncio.to_thread(self.record_fill_sync, record)

    def hold_open(self, order: OrderRequest, result: OrderResult, *, now: datetime) -> Decimal:
        """An order resting on the book: its reservation becomes what it may still execute (the
        open quantity at its limit price), not the original order; released once it is final.
        Returns the notional held."""
        open_qty = result.open_quantity
        price = result.price or order.price or order.reference_price or ZERO
        with self._lock:
            if open_qty <= 0 or price <= 0:
                self._reservations.pop(order.client_order_id, None)
                return ZERO
            notional = open_qty * price
            self._reservations[order.client_order_id] = _Reservation(
                symbol=order.symbol, delta=notional if order.side is OrderSide.BUY else -notional, created=now
            )
            return notional
