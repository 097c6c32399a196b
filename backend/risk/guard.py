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
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from backend.exchanges.base import OrderRequest, OrderResult, OrderSide
from backend.observability.metrics import Metrics
from backend.risk.models import (
    ZERO,
    DayStats,
    Decision,
    KillSwitchOverride,
    KillSwitchState,
    RiskContext,
    RiskSnapshot,
    RiskStateUnavailable,
    TradeRecord,
)
from backend.risk.protections import DrawdownReading, Protections
from backend.risk.rules import GuardState, OrderView, Rule, build_rules
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


class RiskGuard:
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
        for record in self._store.trades_since(day_start(first)):
            day = record.time.astimezone(UTC).date()
            days[day] = days.get(day, DayStats(day)).add(record)
            loaded.observe(record)
        with self._lock:
            self._protections.loss_exits = loaded.loss_exits
            self._override = override
            for day in list(self._days):
                if day >= first:
                    del self._days[day]
            self._days.update(days)
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

    def _day(self, now: datetime) -> DayStats:
        day = now.astimezone(UTC).date()
        stats = self._days.get(day)
        return stats if stats is not None else DayStats(day)

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

    def _prune_days(self, newest: date) -> None:
        for day in [d for d in self._days if d < newest - timedelta(days=3)]:
            del self._days[day]

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
        gross = self.snapshot(now).gross_exposure
        if self._metrics is not None:
            self._metrics.risk_gross_exposure.set(float(gross))
        return gross

    def snapshot(self, now: datetime | None = None) -> RiskSnapshot:
        now = now or self._clock()
        settings = self._settings()
        with self._lock:
            stats = self._day(now)
            exposure = dict(self._last_positions)
            for reservation in self._reservations.values():
                if reservation.delta > 0:
                    exposure[reservation.symbol] = exposure.get(reservation.symbol, ZERO) + reservation.delta
            for seq, symbol, delta in self._recent:
                if seq > self._last_seq:
                    exposure[symbol] = exposure.get(symbol, ZERO) + delta
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

    def _publish_state(self) -> None:
        if self._metrics is None:
            return
        self._metrics.risk_kill_switch.set(1 if self.kill_switch_enabled() else 0)
        today = self._day(self._clock())
        self._metrics.risk_daily_realised_pnl.set(float(today.realised_pnl))
        self._metrics.risk_daily_turnover.set(float(today.notional))
