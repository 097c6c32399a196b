"""The notifier: services emit events here; a writer thread puts them in the outbox, never the caller.

``emit`` costs a queue put, so the trading path never waits for the database or a channel. Events
whose kind QT_NOTIFY_EVENTS does not enable are not stored. ``emit_sync`` writes in the calling
thread (worker threads, scripts, tests); ``flush`` waits until every queued event is written.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from backend.notify.events import Event
from backend.notify.outbox import Outbox
from backend.observability.metrics import Metrics
from config.notify import NotifySettings

log = logging.getLogger(__name__)

_STOP = object()


class Notifier:
    def __init__(
        self,
        outbox: Outbox,
        settings: Callable[[], NotifySettings],
        channel_ids: Callable[[], list[str]],
        metrics: Metrics,
    ) -> None:
        self.outbox = outbox
        self._settings = settings
        self._channel_ids = channel_ids
        self._metrics = metrics
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        # emit and close agree under this lock, so nothing is queued behind the writer's stop
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._drain, name="notify-outbox-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is queued, then stop the writer; later events are written in the caller's thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout=30)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until what was queued before this call is written; False after ``timeout``."""
        done = threading.Event()
        with self._lock:
            if self._thread is None:
                return True
            self._queue.put(done)
        return done.wait(timeout)

    def _put(self, item: object) -> bool:
        with self._lock:
            if self._thread is None:
                return False
            self._queue.put(item)
            return True

    def emit(self, event: Event) -> None:
        """Queue an event for the outbox (returns at once; safe from any thread)."""
        if not self._settings().wants(event.kind):
            self._metrics.notify_events.labels(kind=event.kind, outcome="disabled").inc()
            return
        if not self._put(event):
            self.emit_sync(event)

    def emit_deferred(self, build: Callable[[Outbox], Event | None]) -> None:
        """Queue ``build``: the writer thread calls it (it may read the outbox) and stores what it returns."""
        if not self._put(build):
            self._build(build)

    def _build(self, build: Callable[[Outbox], Event | None]) -> None:
        try:
            event = build(self.outbox)
        except Exception as exc:
            log.error("notification not built", extra={"error": (str(exc) or type(exc).__name__).splitlines()[0]})
            return
        if event is not None:
            self.emit_sync(event)

    def emit_sync(self, event: Event) -> bool:
        """Write the event now, in this thread; False when disabled, a duplicate or not stored."""
        if not self._settings().wants(event.kind):
            self._metrics.notify_events.labels(kind=event.kind, outcome="disabled").inc()
            return False
        try:
            added = self.outbox.add(event, self._channel_ids())
        except Exception as exc:
            # the database is down: /health says so; the event cannot be kept
            self._metrics.notify_events.labels(kind=event.kind, outcome="lost").inc()
            log.error("notification not stored", extra={"kind": event.kind, "error": str(exc).splitlines()[0]})
            return False
        self._metrics.notify_events.labels(kind=event.kind, outcome="stored" if added else "duplicate").inc()
        return added

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
            elif isinstance(item, Event):
                self.emit_sync(item)
            else:
                self._build(item)  # type: ignore[arg-type]
