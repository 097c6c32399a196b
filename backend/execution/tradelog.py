"""The trades log: one JSON line per order event (planned, sent, filled, refused, rejected, unknown).

The file stays open between events (appending costs a write, not an open); rotate it with
copy-and-truncate, or call `reopen()` after moving it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class TradesLog:
    """``path`` None: no file (a backtest without a trades folder), the listeners still hear every event."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None
        self._warned = False
        self._listeners: list[Callable[[datetime, str, dict[str, Any]], None]] = []

    def subscribe(self, listener: Callable[[datetime, str, dict[str, Any]], None]) -> None:
        """Call ``listener(time, event, fields)`` after every event (the notifier; it must not block)."""
        self._listeners.append(listener)

    def write(self, time: datetime, event: str, **fields: Any) -> None:
        if self.path is not None:
            self._append(self.path, time, event, fields)
        for listener in self._listeners:
            try:
                listener(time, event, fields)
            except Exception:  # a listener must never fail an order
                log.exception("trades log listener failed", extra={"event": event})

    def _append(self, path: Path, time: datetime, event: str, fields: dict[str, Any]) -> None:
        line = json.dumps({"time": time.isoformat(), "event": event, **{k: _plain(v) for k, v in fields.items()}})
        try:
            with self._lock:
                if self._handle is None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._handle = open(path, "a", encoding="utf-8", buffering=1)
                self._handle.write(line + "\n")
        except OSError as exc:
            # the database is the record; the log is for operators, so a full disk must not stop trading
            if not self._warned:
                log.error("trades log not writable", extra={"path": str(path), "error": str(exc)})
                self._warned = True

    def reopen(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
