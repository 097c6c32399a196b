"""The risk guard: checks orders against the rules and records fills, under one lock.

Concurrency model: ``check`` is CPU-only and runs on the caller's thread (normally the event loop)
under ``_lock``; an allowed order *reserves* its notional until it is recorded or released, so a
second concurrent check sees it and cannot pass a limit that only one of them fits. Only purchases
in flight add to what other checks see: a sale may still fail, so it frees nothing until recorded.
Writes to the state store (``record_fill``, kill switch, reset) run in a worker thread under
``_write_lock``: the database commit happens first, then the in-memory state is updated under
``_lock`` — so a check never waits on I/O, and what it sees is always already durable.

Realised PnL is computed by the caller from its ledger (average cost, fees) and passed to
``record_fill``; the guard only sums it per UTC day. It never infers PnL from trade ratios.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from backend.exchanges.base import OrderRequest, OrderResult, OrderSide
from backend.risk.guard_core import (
    AUTO_ACTOR,
    AUTO_HALT_REASON,
    DRAWDOWN_HALT_REASON,
    RESERVATION_TTL,
    AuditHook,
    GuardCore,
    _Reservation,
    day_start,
    utc_now,
)
from backend.risk.models import (
    ZERO,
    DayStats,
    Decision,
    RiskContext,
    RiskSnapshot,
    RiskStateUnavailable,
    TradeRecord,
)
from backend.risk.rules import GuardState, OrderView, Rule, build_rules
from config.risk import RiskSettings

__all__ = ["AUTO_ACTOR", "AUTO_HALT_REASON", "DRAWDOWN_HALT_REASON", "AuditHook", "RiskGuard", "day_start", "utc_now"]

log = logging.getLogger(__name__)


class RiskGuard(GuardCore):
    """One per process, built in the lifespan (``ctx.services["risk_guard"]``).

    Public API (async methods do their I/O in a worker thread; ``*_sync`` twins exist for scripts):

    - ``check(order, context) -> Decision`` — sync, no I/O; an allowed order is reserved.
    - ``record_fill(record)`` / ``record_result(order, result, realised_pnl=..., now=...)`` — durable.
    - ``release(client_order_id)`` — drop a reservation (order refused by the exchange, not sent).
    - ``kill_switch_enabled()``, ``kill_switch_state()``, ``set_kill_switch(enabled, reason, actor)``.
    - ``reset()`` — clear recorded trades and the kill switch override.
    - ``snapshot()`` — everything GET /risk shows.
    - ``note_exchange_failure(error)`` / ``note_exchange_success()`` — the automatic halt.
    """

    # checking ---------------------------------------------------------------------------------
    @property
    def fill_sequence(self) -> int:
        """Read before reading the ledger, pass as ``RiskContext.fill_sequence`` (see RiskContext)."""
        return self._fill_seq

    def _current_rules(self, settings: RiskSettings) -> list[Rule[Any]]:
        if settings is not self._rules_for:
            self._rules = build_rules(settings)
            self._rules_for = settings
        return self._rules

    def check(self, order: OrderRequest, context: RiskContext) -> Decision:
        """Evaluate the rules in order; when allowed, reserve the order's exposure until it is
        recorded (``record_fill``/``record_result``) or released (``release``)."""
        if context.now.tzinfo is None:
            raise ValueError("RiskContext.now must be timezone-aware UTC")
        settings = self._settings()
        with self._lock:
            rules = self._current_rules(settings)
            now = context.now
            self._expire(now)
            halted = self.kill_switch_enabled()
            state = GuardState(
                kill_switch=halted,
                kill_switch_reason=(self.kill_switch_state().reason or "QT_KILL_SWITCH default") if halted else None,
                realised_pnl_today=self._day(now).realised_pnl,
                pending=self._pending(context, order.client_order_id),
                notional_today=self._day(now).notional,
                pending_turnover=sum(
                    (abs(r.delta) for k, r in self._reservations.items() if k != order.client_order_id), ZERO
                ),
                last_loss_exit=self._protections.loss_exits.get(order.symbol),
                drawdown=self._protections.drawdown,
            )
            view = OrderView(order, context, state)
            decision = self._evaluate(rules, view)
            self._last_positions = dict(context.positions)
            self._last_positions_at = now
            self._last_seq = self._fill_seq if context.fill_sequence is None else context.fill_sequence
            if decision.allowed:
                self._reservations[order.client_order_id] = _Reservation(
                    symbol=order.symbol, delta=view.delta, created=now
                )
                gross = view.projected_gross_exposure
            else:
                gross = view.current_gross_exposure
        self._count(decision)
        if self._metrics is not None:
            self._metrics.risk_gross_exposure.set(float(gross))
        return decision

    @staticmethod
    def _evaluate(rules: list[Rule[Any]], view: OrderView) -> Decision:
        reducing = view.reducing
        for rule in rules:
            if reducing and not rule.checks_reducing:
                continue
            reason = rule.evaluate(view)
            if reason is not None:
                return Decision(False, rule.name, reason, notional=view.safe_notional, reducing=reducing)
        return Decision(True, None, "allowed", notional=view.notional, reducing=reducing)

    def _pending(self, context: RiskContext, exclude: str) -> dict[str, Decimal]:
        pending: dict[str, Decimal] = {}
        for client_order_id, reservation in self._reservations.items():
            # only purchases in flight count: a sale may still fail, so it frees nothing until recorded
            if client_order_id != exclude and reservation.delta > 0:
                pending[reservation.symbol] = pending.get(reservation.symbol, ZERO) + reservation.delta
        seen = context.fill_sequence
        if seen is not None and seen < self._fill_seq:
            for seq, symbol, delta in reversed(self._recent):
                if seq <= seen:
                    break
                pending[symbol] = pending.get(symbol, ZERO) + delta
        return pending

    def _expire(self, now: datetime) -> None:
        if not self._reservations:
            return
        cutoff = now - RESERVATION_TTL
        stale = [key for key, value in self._reservations.items() if value.created < cutoff]
        for key in stale:
            log.warning("risk reservation expired unresolved", extra={"client_order_id": key})
            del self._reservations[key]

    def _count(self, decision: Decision) -> None:
        if self._metrics is None:
            return
        key = (decision.rule.value if decision.rule else "none", "allowed" if decision.allowed else "refused")
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._metrics.risk_decisions.labels(rule=key[0], outcome=key[1])
        counter.inc()

    def release(self, client_order_id: str) -> bool:
        """Drop the reservation of an order that was not placed (refused by the exchange, not sent)."""
        with self._lock:
            return self._reservations.pop(client_order_id, None) is not None

    def mark_unknown(self, client_order_id: str) -> None:
        """The submission's outcome is unknown: keep its reservation until reconciled or expired."""
        with self._lock:
            reservation = self._reservations.get(client_order_id)
            if reservation is not None:
                reservation.unknown = True

    # recording ----------------------------------------------------------------------------------
    def record_fill_sync(self, record: TradeRecord) -> bool:
        """Persist one execution and its realised PnL, then release the order's reservation.

        Returns False when the client order id was already recorded (idempotent: nothing changes).
        """
        if record.time.tzinfo is None:
            raise ValueError("TradeRecord.time must be timezone-aware UTC")
        with self._write_lock:
            try:
                outcome = self._store.upsert_trade(record)
                if outcome == "updated":
                    # the ledger learnt the real figures of an execution already recorded (a ledger
                    # write that failed first): the days are re-derived from the store
                    self._load_locked()
            except Exception as exc:
                # the fill is real but unrecorded: stop trading until the store is back
                self._mark_store_error(exc)
                raise RiskStateUnavailable(f"fill not recorded: {self._store_error}") from exc
            added = outcome == "added"
            with self._lock:
                self._reservations.pop(record.client_order_id, None)
                if added:
                    day = record.time.astimezone(UTC).date()
                    self._days[day] = self._days.get(day, DayStats(day)).add(record)
                    self._fill_seq += 1
                    delta = record.notional if record.side is OrderSide.BUY else -record.notional
                    self._recent.append((self._fill_seq, record.symbol, delta))
                    self._protections.observe(record)
                    self._prune_days(day)
        self._publish_state()
        return added

    def restore_trades_sync(self, records: list[TradeRecord]) -> int:
        """Make the store agree with the ledger's recent executions; returns how many it changed.

        The ledger is the one truth for realised PnL: an execution the store lacks (a crash between
        the two writes) is added, one it holds with other figures (a ledger write that failed at
        first and was completed by reconciliation) is corrected, and the days are re-derived.
        Executions at or before the newest POST /risk/reset stay cleared: the operator reset them.
        """
        if not records:
            return 0
        with self._write_lock:
            try:
                reset_at = self._store.last_reset()
                wanted = [r for r in records if reset_at is None or r.time > reset_at]
                added = sum(1 for record in wanted if self._store.upsert_trade(record) != "same")
                if added:
                    self._load_locked()
            except Exception as exc:
                self._mark_store_error(exc)
                raise RiskStateUnavailable(f"executions not restored: {self._store_error}") from exc
        if added:
            log.warning("risk records restored from the ledger", extra={"count": added})
        return added

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

    async def record_result(
        self, order: OrderRequest, result: OrderResult, *, realised_pnl: Decimal, now: datetime
    ) -> bool:
        """Record what an order executed (nothing when it executed nothing) and release it; an order
        still open keeps a reservation for its open quantity (``hold_open``)."""
        if result.executed_quantity <= 0:
            if result.status.is_open:
                self.hold_open(order, result, now=now)
            else:
                self.release(order.client_order_id)
            return False
        # dated by the fill (the exchange's transaction time), not by the check
        filled_at = max((f.time for f in result.fills), default=None) or result.time or now
        record = TradeRecord(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=result.executed_quantity,
            notional=result.quote_quantity,
            realised_pnl=realised_pnl,
            time=filled_at if filled_at.tzinfo is not None else filled_at.replace(tzinfo=UTC),
        )
        added = await self.record_fill(record)
        if result.status.is_open:
            self.hold_open(order, result, now=now)
        return added

    # reset and snapshot ---------------------------------------------------------------------------
    def reset_sync(self, *, audit: AuditHook | None = None) -> RiskSnapshot:
        """Clear recorded trades, the kill switch override and the failure count (in-flight
        reservations stay: those orders may still fill)."""
        with self._write_lock:
            self._ensure_loaded_locked()
            if audit is not None:
                before = self._summary(self.snapshot())
                after = {**before, "kill_switch": self._state_of(None).as_dict(), "trades_today": 0}
                after.update(realised_pnl_today="0", consecutive_exchange_failures=0)
                audit(before, after)
            self._store.reset(now=self._clock())
            with self._lock:
                self._override = None
                self._days.clear()
                self._failures = 0
                self._protections.clear_trades()
        self._publish_state()
        log.warning("risk state reset")
        return self.snapshot()

    async def reset(self, *, audit: AuditHook | None = None) -> RiskSnapshot:
        return await asyncio.to_thread(self.reset_sync, audit=audit)

    @staticmethod
    def _summary(snapshot: RiskSnapshot) -> dict[str, Any]:
        return {
            "kill_switch": snapshot.kill_switch.as_dict(),
            "trades_today": snapshot.trades_today,
            "realised_pnl_today": str(snapshot.realised_pnl_today),
            "consecutive_exchange_failures": snapshot.consecutive_exchange_failures,
        }

    def observe_positions(
        self, positions: Mapping[str, Decimal], *, now: datetime, fill_sequence: int | None = None
    ) -> Decimal:
        """The exposure per symbol the execution service derived from the ledger (start-up, every
        cycle, every portfolio view): between orders, and after a restart before the first order,
        /risk and risk_gross_exposure show it instead of the last check's (or 0). Pass the
        ``fill_sequence`` read before the ledger, as for ``RiskContext``. Returns the gross exposure."""
        with self._lock:
            self._last_positions = {s: v for s, v in positions.items() if v != 0}
            self._last_positions_at = now
            self._last_seq = self._fill_seq if fill_sequence is None else fill_sequence
            gross = sum((abs(v) for v in self._exposure_locked().values()), ZERO)  # as snapshot() sums it
        if self._metrics is not None:
            self._metrics.risk_gross_exposure.set(float(gross))
        return gross

    def snapshot(self, now: datetime | None = None) -> RiskSnapshot:
        now = now or self._clock()
        settings = self._settings()
        with self._lock:
            stats = self._day(now)
            exposure = self._exposure_locked()
            pending = len(self._reservations)
            turnover_pending = sum((abs(r.delta) for r in self._reservations.values()), ZERO)
            cooling = self._protections.cooling(now, settings.symbol_cooldown_minutes)
            drawdown = self._protections.drawdown
            positions_at = self._last_positions_at
            kill_switch = self.kill_switch_state()
        budget = settings.max_daily_loss + min(stats.realised_pnl, ZERO)
        return RiskSnapshot(
            now=now,
            kill_switch=kill_switch,
            day=stats.day,
            trades_today=stats.trades,
            notional_today=stats.notional,
            realised_pnl_today=stats.realised_pnl,
            loss_budget_left=max(budget, ZERO),
            gross_exposure=sum((abs(v) for v in exposure.values()), ZERO),
            exposure_by_symbol={k: v for k, v in sorted(exposure.items()) if v != 0},
            exposure_as_of=positions_at,
            pending_orders=pending,
            consecutive_exchange_failures=self._failures,
            state_store_error=self._store_error,
            drawdown=drawdown,
            cooling_down=cooling,
            turnover_pending=turnover_pending,
        )

    def _exposure_locked(self) -> dict[str, Decimal]:
        """Exposure per symbol (under ``_lock``): the last positions, purchases in flight, and the
        fills recorded since those positions were read."""
        exposure = dict(self._last_positions)
        for reservation in self._reservations.values():
            if reservation.delta > 0:
                exposure[reservation.symbol] = exposure.get(reservation.symbol, ZERO) + reservation.delta
        later: list[tuple[int, str, Decimal]] = []
        for entry in reversed(self._recent):  # sequences only grow: stop at the first one already seen
            if entry[0] <= self._last_seq:
                break
            later.append(entry)
        for _seq, symbol, delta in reversed(later):  # in recording order, as they happened
            exposure[symbol] = exposure.get(symbol, ZERO) + delta
        return exposure
