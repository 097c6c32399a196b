"""The risk guard's state and its persistence: the kill switch (override, default, the store being
down), the recorded days, loading and refreshing from the state store, and the automatic halts
(consecutive exchange failures, equity drawdown). ``GuardRecords`` (backend/risk/guard_records.py)
adds the recording of fills, ``RiskGuard`` (backend/risk/guard.py) the order checks and the
snapshot on top; the concurrency model is described there.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from backend.exchanges.base import OrderRequest, OrderResult
from backend.observability.metrics import Metrics
from backend.risk.models import (
    DayStats,
    KillSwitchOverride,
    KillSwitchState,
    RiskContext,
    RiskStateUnavailable,
    TradeRecord,
)
from backend.risk.protections import DrawdownReading, Protections
from backend.risk.rules import Rule
from backend.risk.store import RiskStateStore
from config.risk import RiskSettings

log = logging.getLogger(__name__)

AUTO_HALT_REASON = "auto: exchange failures"
DRAWDOWN_HALT_REASON = "auto: equity drawdown"
AUTO_ACTOR = "risk-guard"
# An order whose outcome is never resolved (no record, no release) stops counting after this long.
RESERVATION_TTL = timedelta(hours=1)
RECENT_FILLS = 4096

# (before, after) -> None; raising refuses the change (the API's audit_or_503 does that).
AuditHook = Callable[[dict[str, Any], dict[str, Any]], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(slots=True)
class _Reservation:
    symbol: str
    delta: Decimal  # signed notional: + buy, - sell
    created: datetime
    unknown: bool = False  # the submission's outcome is unknown; kept until reconciled


class GuardCore:
    """The state a RiskGuard checks against, and what changes it without an order."""

    def __init__(
        self,
        store: RiskStateStore,
        settings: Callable[[], RiskSettings],
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utc_now,
        audit_hook: AuditHook | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._audit_hook = audit_hook
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._override: KillSwitchOverride | None = None
        self._days: dict[date, DayStats] = {}
        # the records per order and UTC day of the days in ``_days`` (see backend/risk/day_parts.py)
        self._parts: dict[str, dict[date, TradeRecord]] = {}
        self._reservations: dict[str, _Reservation] = {}
        self._fill_seq = 0
        self._recent: deque[tuple[int, str, Decimal]] = deque(maxlen=RECENT_FILLS)
        self._failures = 0
        self._last_positions: dict[str, Decimal] = {}
        self._last_positions_at: datetime | None = None
        self._last_seq = 0  # fills up to this sequence are in _last_positions
        self._store_error: str | None = "not loaded yet"
        self._rules_for: RiskSettings | None = None
        self._rules: list[Rule[Any]] = []
        self._counters: dict[tuple[str, str], Any] = {}
        self._protections = Protections()
        self._kill_switch_listeners: list[Callable[[KillSwitchState, KillSwitchState], None]] = []

    # loading ----------------------------------------------------------------------------------
    def load(self) -> None:
        """Read the persisted state (kill switch override, recent trades). Raises when unreachable."""
        with self._write_lock:
            self._load_locked()

    def refresh_sync(self) -> None:
        """Re-read the store (another replica may have changed it); a failure marks the store down."""
        with self._write_lock:
            try:
                self._load_locked()
            except Exception as exc:
                self._mark_store_error(exc)
                raise RiskStateUnavailable(self._store_error or "state store unavailable") from exc

    async def refresh(self) -> None:
        await asyncio.to_thread(self.refresh_sync)

    def mark_unavailable(self, error: BaseException | str) -> None:
        """The store could not be opened: refuse every order until a refresh succeeds."""
        self._mark_store_error(error)

    def _load_locked(self) -> None:
        override = self._store.load_kill_switch()
        today = self._clock().astimezone(UTC).date()
        first = today - timedelta(days=1)
        days = {first: DayStats(first), today: DayStats(today)}
        loaded = Protections()
        parts: dict[str, dict[date, TradeRecord]] = {}
        for record in self._store.trades_since(day_start(first)):
            day = record.day
            days[day] = days.get(day, DayStats(day)).add(record)
            parts.setdefault(record.client_order_id, {})[day] = record
            loaded.observe(record)
        with self._lock:
            self._protections.loss_exits = loaded.loss_exits
            self._override = override
            for day in list(self._days):
                if day >= first:
                    del self._days[day]
            self._days.update(days)
            self._parts = parts
            self._store_error = None
        self._publish_state()

    def _mark_store_error(self, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        text = text.splitlines()[0] if text else "unknown error"
        with self._lock:
            self._store_error = text
        log.error("risk state store unavailable; refusing all orders", extra={"error": text})
        self._publish_state()

    @property
    def metrics(self) -> Metrics | None:
        return self._metrics

    @property
    def settings(self) -> RiskSettings:
        """The live risk settings."""
        return self._settings()

    @property
    def store_error(self) -> str | None:
        return self._store_error

    # kill switch ------------------------------------------------------------------------------
    def kill_switch_enabled(self) -> bool:
        """Effective state: the override when set, else QT_KILL_SWITCH; on while the store is down."""
        if self._store_error is not None:
            return True
        override = self._override
        if override is not None and override.enabled is not None:
            return override.enabled
        return self._settings().kill_switch

    def kill_switch_state(self) -> KillSwitchState:
        return self._state_of(self._override)

    def _state_of(self, override: KillSwitchOverride | None) -> KillSwitchState:
        default = self._settings().kill_switch
        enabled = default if override is None or override.enabled is None else override.enabled
        reason = override.reason if override is not None else None
        if self._store_error is not None:
            enabled, reason = True, f"risk state store unavailable: {self._store_error}"
        return KillSwitchState(
            enabled=enabled,
            default=default,
            override=None if override is None else override.enabled,
            reason=reason,
            actor=None if override is None else override.actor,
            updated_at=None if override is None else override.updated_at,
        )

    def set_kill_switch_sync(
        self,
        enabled: bool | None,
        reason: str | None,
        actor: str | None,
        *,
        now: datetime | None = None,
        audit: AuditHook | None = None,
    ) -> KillSwitchState:
        """Persist an override (None = back to QT_KILL_SWITCH); ``audit(before, after)`` runs first."""
        override = KillSwitchOverride(enabled=enabled, reason=reason, actor=actor, updated_at=now or self._clock())
        with self._write_lock:
            self._ensure_loaded_locked()
            before = self._state_of(self._override)
            if audit is not None:
                audit(before.as_dict(), self._state_of(override).as_dict())
            self._store.save_kill_switch(override)
            with self._lock:
                self._override = override
        self._publish_state()
        log.warning(
            "kill switch changed",
            extra={"override": enabled, "reason": reason, "actor": actor, "effective": self.kill_switch_enabled()},
        )
        after = self.kill_switch_state()
        for listener in self._kill_switch_listeners:
            try:
                listener(before, after)
            except Exception:  # a listener (the notifier) must never undo or fail a kill switch change
                log.exception("kill switch listener failed")
        return after

    def on_kill_switch(self, listener: Callable[[KillSwitchState, KillSwitchState], None]) -> None:
        """Call ``listener(before, after)`` after every kill switch change this process makes."""
        self._kill_switch_listeners.append(listener)

    async def set_kill_switch(
        self,
        enabled: bool | None,
        reason: str | None,
        actor: str | None,
        *,
        now: datetime | None = None,
        audit: AuditHook | None = None,
    ) -> KillSwitchState:
        return await asyncio.to_thread(self.set_kill_switch_sync, enabled, reason, actor, now=now, audit=audit)

    def _ensure_loaded_locked(self) -> None:
        if self._store_error is None:
            return
        try:
            self._load_locked()
        except Exception as exc:
            self._mark_store_error(exc)
            raise RiskStateUnavailable(f"risk state store unavailable: {self._store_error}") from exc

    def _day(self, now: datetime) -> DayStats:
        day = now.astimezone(UTC).date()
        stats = self._days.get(day)
        return stats if stats is not None else DayStats(day)

    def _prune_days(self, newest: date) -> None:
        oldest = newest - timedelta(days=3)
        for day in [d for d in self._days if d < oldest]:
            del self._days[day]
        for coid in [c for c, days in self._parts.items() if max(days) < oldest]:
            del self._parts[coid]

    # automatic halt -------------------------------------------------------------------------------
    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def note_exchange_success(self) -> None:
        self._failures = 0

    def note_exchange_failure_sync(self, error: BaseException, *, now: datetime | None = None) -> bool:
        """Count a failed exchange call; True when this failure turned the kill switch on."""
        with self._lock:
            self._failures += 1
            failures = self._failures
        limit = self._settings().halt_after_failures
        log.warning("exchange failure", extra={"consecutive": failures, "error": f"{type(error).__name__}: {error}"})
        if limit <= 0 or failures < limit or self.kill_switch_enabled():
            return False
        self.halt_sync(
            AUTO_HALT_REASON, f"{failures} consecutive exchange failures, last: {type(error).__name__}", now=now
        )
        return True

    def halt_sync(self, reason: str, detail: str, *, now: datetime | None = None) -> None:
        """Turn the kill switch on automatically (actor ``risk-guard``), audited; halting wins over
        an audit line that cannot be written."""
        try:
            self.set_kill_switch_sync(True, reason, AUTO_ACTOR, now=now, audit=self._safe_audit(detail))
        except RiskStateUnavailable:
            log.exception("automatic halt not persisted (the unavailable store already refuses orders)")

    async def halt(self, reason: str, detail: str, *, now: datetime | None = None) -> None:
        await asyncio.to_thread(self.halt_sync, reason, detail, now=now)

    def fill_price_breach(self, order: OrderRequest, result: OrderResult, context: RiskContext) -> str | None:
        """Why the average fill price is outside the price-sanity bound around the reference, or None."""
        average = result.average_price
        reference = context.reference_price
        if average is None or reference is None or not reference.is_finite() or reference <= 0:
            return None
        limit = self._settings().max_price_deviation_pct
        deviation = abs(average - reference) / reference * 100
        if deviation <= limit:
            return None
        return (
            f"auto: fill price {average:.8f} of {order.client_order_id} ({order.symbol}) deviates "
            f"{deviation:.2f}% from the reference {reference} (limit {limit}%)"
        )

    async def note_exchange_failure(self, error: BaseException, *, now: datetime | None = None) -> bool:
        return await asyncio.to_thread(self.note_exchange_failure_sync, error, now=now)

    def note_drawdown_sync(self, reading: DrawdownReading, *, now: datetime | None = None) -> bool:
        """Take the latest equity drawdown reading (the portfolio marks); True when it started a
        breach of QT_MAX_DRAWDOWN_PCT and the kill switch was turned on for it."""
        limit = self._settings().max_drawdown_pct
        with self._lock:
            starts = self._protections.note_drawdown(reading, limit)
        if self._metrics is not None:
            self._metrics.risk_equity_drawdown.set(float(reading.drawdown_pct))
        if not starts:
            return False
        if self._metrics is not None:
            self._metrics.risk_protection_halts.labels(protection="equity_drawdown").inc()
        if not self.kill_switch_enabled():
            self.halt_sync(DRAWDOWN_HALT_REASON, f"{reading.describe()}, limit {limit}%", now=now)
        return True

    def _safe_audit(self, detail: str) -> AuditHook:
        hook = self._audit_hook

        def audit(before: dict[str, Any], after: dict[str, Any]) -> None:
            if hook is None:
                return
            try:
                hook(before, {**after, "detail": detail})
            except Exception:
                # halting matters more than the audit line: apply anyway, shout in the log
                log.exception("automatic halt could not be audited; halting anyway")

        return audit

    def _publish_state(self) -> None:
        if self._metrics is None:
            return
        self._metrics.risk_kill_switch.set(1 if self.kill_switch_enabled() else 0)
        today = self._day(self._clock())
        self._metrics.risk_daily_realised_pnl.set(float(today.realised_pnl))
        self._metrics.risk_daily_turnover.set(float(today.notional))
