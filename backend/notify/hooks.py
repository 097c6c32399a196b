"""Translators from what services report (kill switch changes, trades-log lines, job runs, /health) to events.

Each is a plain callable subscribed where the fact happens; each only queues (never blocks the caller).
Transitions, not states, are notified: a job failing every cadence is one ``job.failed`` message and
one ``job.recovered`` when it runs clean again.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from backend.notify.events import Event
from backend.notify.notifier import Notifier
from backend.notify.outbox import Outbox
from backend.risk.models import KillSwitchState
from backend.scheduler.runner import JobRun, RunStatus

# trades-log events that end an order's story (see backend/execution/recorder.py and reconciliation)
FINAL_ORDER_EVENTS = {
    "order_filled",
    "order_canceled",
    "order_rejected",
    "order_expired",
    "order_expired_in_match",
    "order_not_found",
}


def kill_switch_event(before: KillSwitchState, after: KillSwitchState) -> Event | None:
    """kill_switch.on / .off when the effective state changed, with the reason and the actor."""
    if before.enabled == after.enabled:
        return None
    kind = "kill_switch.on" if after.enabled else "kill_switch.off"
    when = after.updated_at
    how = "automatically" if (after.actor or "").startswith("risk-guard") else "manually"
    verb = "ON: no orders are sent" if after.enabled else "OFF: trading resumes"
    reason = after.reason or "no reason given"
    text = f"Kill switch {verb} (set {how} by {after.actor or 'unknown'}: {reason})."
    stamp = when.isoformat() if when else "?"
    data = {"actor": after.actor, "reason": after.reason, "automatic": how == "automatically"}
    event = Event(kind=kind, text=text, dedup_key=f"{kind}:{stamp}", data=data)
    return event if when is None else dataclasses.replace(event, time=when)


class OrderEvents:
    """Trades-log listener: order.rejected, order.unknown, and order.resolved_late for an order once unknown."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    def __call__(self, time: datetime, event: str, fields: dict[str, Any]) -> None:
        coid = str(fields.get("client_order_id") or "?")
        symbol = fields.get("symbol")
        on = f" {symbol}" if symbol else ""
        if event == "order_rejected":
            code = fields.get("code")
            why = " ".join(str(x) for x in (code, fields.get("message")) if x) or "no reason given"
            self._notifier.emit(
                Event(
                    kind="order.rejected",
                    text=f"Order {coid}{on} rejected by the exchange: {why}.",
                    dedup_key=f"order.rejected:{coid}",
                    time=time,
                    data={"client_order_id": coid, "code": code},
                )
            )
        if event == "order_unknown":
            self._notifier.emit(
                Event(
                    kind="order.unknown",
                    text=f"Order {coid}{on}: outcome unknown ({fields.get('message') or 'no answer'}); "
                    "nothing new is sent until it is looked up.",
                    dedup_key=f"order.unknown:{coid}",
                    time=time,
                    data={"client_order_id": coid},
                )
            )
        elif event in FINAL_ORDER_EVENTS:
            outcome = event.removeprefix("order_").replace("_", " ")

            def late(outbox: Outbox) -> Event | None:
                # only an order that was reported unknown is "resolved late" (the outbox remembers across restarts)
                if not outbox.exists(f"order.unknown:{coid}"):
                    return None
                return Event(
                    kind="order.resolved_late",
                    text=f"Order {coid}{on}, whose outcome was unknown, is resolved: {outcome}.",
                    dedup_key=f"order.resolved_late:{coid}",
                    time=time,
                    data={"client_order_id": coid, "outcome": outcome},
                )

            self._notifier.emit_deferred(late)


class JobEvents:
    """Job-run listener: job.failed, job.degraded, job.recovered on transitions."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier
        self._last: dict[str, RunStatus] = {}
        self._lock = threading.Lock()

    def __call__(self, job_id: str, run: JobRun) -> None:
        if run.status in (RunStatus.FOLLOWER, RunStatus.SKIPPED):
            return
        with self._lock:
            previous = self._last.get(job_id)
            self._last[job_id] = run.status
        if run.status == previous:
            return
        detail = run.error or "; ".join(f"{k}: {v}" for k, v in list(run.errors.items())[:3])
        stamp = f"{job_id}:{run.started_at.isoformat()}"
        if run.status is RunStatus.FAILED:
            event = Event(
                "job.failed", f"Job {job_id} failed: {detail or 'no detail'}.", f"job.failed:{stamp}", run.finished_at
            )
        elif run.status is RunStatus.DEGRADED:
            event = Event(
                "job.degraded",
                f"Job {job_id} degraded: {detail or 'no detail'}.",
                f"job.degraded:{stamp}",
                run.finished_at,
            )
        elif previous in (RunStatus.FAILED, RunStatus.DEGRADED):
            event = Event("job.recovered", f"Job {job_id} runs clean again.", f"job.recovered:{stamp}", run.finished_at)
        else:
            return
        self._notifier.emit(event)


class HealthEvents:
    """/health watcher: health.degraded and health.recovered when its status changes (job lines excluded:
    the job events tell those)."""

    def __init__(
        self, notifier: Notifier, snapshot: Callable[[], dict[str, Any]], clock: Callable[[], datetime]
    ) -> None:
        self._notifier = notifier
        self._snapshot = snapshot
        self._clock = clock
        self._degraded: bool | None = None

    def check(self) -> None:
        body = self._snapshot()
        reasons = [r for r in body.get("reasons", []) if not str(r).startswith("job ")]
        degraded = body.get("status") in ("degraded", "unavailable") and bool(reasons)
        previous, self._degraded = self._degraded, degraded
        now = self._clock()
        if degraded and not previous:
            self._notifier.emit(
                Event(
                    "health.degraded",
                    "Health degraded: " + "; ".join(reasons[:5]),
                    f"health.degraded:{now.isoformat()}",
                    now,
                    {"reasons": reasons},
                )
            )
        elif previous and not degraded:
            self._notifier.emit(
                Event("health.recovered", "Health is ok again.", f"health.recovered:{now.isoformat()}", now)
            )
