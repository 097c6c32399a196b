"""The risk guard: checks orders against the rules and records fills, under one lock.

Concurrency model: ``check`` is CPU-only and runs on the caller's thread (normally the event loop)
under ``_lock``; an allowed order *reserves* its notional until it is recorded or released, so a
second concurrent check sees it and cannot pass a limit that only one of them fits. Only purchases
in flight add to what other checks see: a sale may still fail, so it frees nothing until recorded.
Writes to the state store (``record_fill``, kill switch, reset) run in a worker thread under
``_write_lock``: the database commit happens first, then the in-memory state is updated under
``_lock`` — so a check never waits on I/O, and what it sees is always already durable.

Realised PnL is computed by the caller from its ledger (average cost, fees) and passed to
``record_result``/``record_fill``; the guard only sums it per UTC day, each fill on its own day
(recording: backend/risk/guard_records.py). It never infers PnL from trade ratios.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from backend.exchanges.base import OrderRequest
from backend.risk.guard_core import (
    AUTO_ACTOR,
    AUTO_HALT_REASON,
    DRAWDOWN_HALT_REASON,
    RESERVATION_TTL,
    AuditHook,
    _Reservation,
    day_start,
    utc_now,
)
from backend.risk.guard_records import GuardRecords
from backend.risk.models import (
    ZERO,
    Decision,
    RiskContext,
    RiskSnapshot,
)
from backend.risk.rules import GuardState, OrderView, Rule, build_rules
from config.risk import RiskSettings

__all__ = ["AUTO_ACTOR", "AUTO_HALT_REASON", "DRAWDOWN_HALT_REASON", "AuditHook", "RiskGuard", "day_start", "utc_now"]

log = logging.getLogger(__name__)


class RiskGuard(GuardRecords):
    """One per process, built in the lifespan (``ctx.services["risk_guard"]``).

    Public API (async methods do their I/O in a worker thread; ``*_sync`` twins exist for scripts):

    - ``check(order, context) -> Decision`` — sync, no I/O; an allowed order is reserved.
    - ``record_fill(record)`` / ``record_result(order, result, realised_pnl=..., now=...)`` — durable;
      one record per order and UTC day of its fills.
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

    def mark_unknown(self, client_order_id: str) -> None:
        """The submission's outcome is unknown: keep its reservation until reconciled or expired."""
        with self._lock:
            reservation = self._reservations.get(client_order_id)
            if reservation is not None:
                reservation.unknown = True

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
                self._parts.clear()
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
