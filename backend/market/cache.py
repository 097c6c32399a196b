"""TTL caches per data kind, counting hits and misses, and the per-source circuit breaker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from prometheus_client import Counter, Gauge

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Entry(Generic[V]):
    value: V
    stored_at: datetime  # when the data was fetched
    as_of: datetime  # the time the data describes (exchange time); equals stored_at when unknown


class TTLCache(Generic[V]):
    """A small dict cache whose entries expire ``ttl()`` seconds after they were stored.

    ``ttl`` is read on every look-up, so a run-time settings change applies at once. A TTL of 0
    disables caching (every look-up is a miss). Counts ``market_cache_requests_total{cache,result}``.
    """

    def __init__(
        self,
        name: str,
        ttl: Callable[[], float],
        clock: Callable[[], datetime],
        requests: Counter | None = None,
        max_entries: int = 4096,
    ) -> None:
        self.name = name
        self._ttl = ttl
        self._clock = clock
        self._requests = requests
        self._max = max_entries
        self._data: dict[Hashable, Entry[V]] = {}
        self._lock = threading.Lock()
        self._counters: dict[str, Any] = {}  # result -> its labelled counter, looked up once

    def _count(self, result: str) -> None:
        if self._requests is not None:
            counter = self._counters.get(result)
            if counter is None:
                counter = self._counters[result] = self._requests.labels(cache=self.name, result=result)
            counter.inc()

    def get(self, key: Hashable) -> Entry[V] | None:
        """A fresh entry (a hit) or None (a miss); both are counted."""
        with self._lock:
            entry = self._data.get(key)
            fresh = entry is not None and (self._clock() - entry.stored_at) < timedelta(seconds=self._ttl())
        self._count("hit" if fresh else "miss")
        return entry if fresh else None

    def peek(self, key: Hashable) -> Entry[V] | None:
        """The entry whatever its age, uncounted (for last-known values)."""
        with self._lock:
            return self._data.get(key)

    def put(self, key: Hashable, value: V, as_of: datetime | None = None) -> Entry[V]:
        now = self._clock()
        entry = Entry(value=value, stored_at=now, as_of=as_of or now)
        with self._lock:
            if key not in self._data and len(self._data) >= self._max:
                oldest = min(self._data, key=lambda k: self._data[k].stored_at)
                del self._data[oldest]
            self._data[key] = entry
        return entry

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``failures()`` consecutive failures; after ``cooldown()`` seconds one trial call
    is let through (half-open): success closes it, failure opens it again."""

    def __init__(
        self,
        source: str,
        failures: Callable[[], int],
        cooldown: Callable[[], float],
        clock: Callable[[], datetime],
        gauge: Gauge | None = None,
    ) -> None:
        self.source = source
        self._failures = failures
        self._cooldown = cooldown
        self._clock = clock
        self._gauge = gauge
        self._lock = threading.Lock()
        self.consecutive_failures = 0
        self.opened_at: datetime | None = None
        self.last_error: str | None = None
        self._child = gauge.labels(source=source) if gauge is not None else None
        self._set_gauge()

    def _set_gauge(self) -> None:
        if self._child is not None:
            self._child.set(1 if self.opened_at is not None else 0)

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self.opened_at >= timedelta(seconds=self._cooldown()):
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """Whether a call may go to the source now."""
        return self.state is not BreakerState.OPEN

    def retry_at(self) -> datetime | None:
        if self.opened_at is None:
            return None
        return self.opened_at + timedelta(seconds=self._cooldown())

    def record_success(self) -> None:
        with self._lock:
            self.consecutive_failures = 0
            self.opened_at = None
            self.last_error = None
        self._set_gauge()

    def record_failure(self, error: str) -> None:
        with self._lock:
            self.consecutive_failures += 1
            self.last_error = error
            half_open = self.opened_at is not None
            if half_open or self.consecutive_failures >= self._failures():
                self.opened_at = self._clock()
        self._set_gauge()

    def snapshot(self) -> dict[str, Any]:
        retry = self.retry_at()
        return {
            "source": self.source,
            "state": self.state.value,
            "consecutive_failures": self.consecutive_failures,
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "retry_at": retry.isoformat() if retry else None,
            "last_error": self.last_error,
        }
