"""Typed events: what happened, how bad it is, one line of text and a key that makes it happen once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from config.notify import EVENT_KINDS


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"  # never held back by the rate limit


SEVERITY: dict[str, Severity] = {
    "kill_switch.on": Severity.CRITICAL,
    "kill_switch.off": Severity.WARNING,
    "order.rejected": Severity.WARNING,
    "order.unknown": Severity.ERROR,
    "order.resolved_late": Severity.INFO,
    "job.failed": Severity.ERROR,
    "job.degraded": Severity.WARNING,
    "job.recovered": Severity.INFO,
    "health.degraded": Severity.WARNING,
    "health.recovered": Severity.INFO,
    "model.trained": Severity.INFO,
    "model.activated": Severity.INFO,
    "model.refused": Severity.WARNING,
    "model.stale": Severity.WARNING,
    "model.rolled_back": Severity.WARNING,
    "service.started": Severity.INFO,
    "service.stopped": Severity.INFO,
    "summary.daily": Severity.INFO,
    "notify.held": Severity.WARNING,
    "test": Severity.INFO,
}
assert set(SEVERITY) == set(EVENT_KINDS), "every kind of config.notify.EVENT_KINDS needs a severity"  # noqa: S101


@dataclass(frozen=True)
class Event:
    """One notification. ``dedup_key`` is unique in the outbox: emitting it twice sends it once."""

    kind: str
    text: str
    dedup_key: str
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    data: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None

    def __post_init__(self) -> None:
        if self.kind not in SEVERITY:
            raise ValueError(f"unknown event kind {self.kind!r}")
        if self.time.tzinfo is None:
            raise ValueError("event time must be timezone-aware (UTC)")
        if self.severity is None:
            object.__setattr__(self, "severity", SEVERITY[self.kind])

    @property
    def level(self) -> Severity:
        return self.severity or SEVERITY[self.kind]

    def payload(self) -> dict[str, Any]:
        """The JSON body of a webhook: kind, severity, time, text (and the event's data)."""
        return {
            "kind": self.kind,
            "severity": self.level.value,
            "time": self.time.astimezone(UTC).isoformat(),
            "text": self.text,
            "dedup_key": self.dedup_key,
            "data": self.data,
        }
