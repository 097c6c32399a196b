"""The admin audit log: one JSON line per admin action, flushed and fsynced before the answer."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class AuditWriteError(RuntimeError):
    """The audit line could not be written; the action it describes must not be applied."""


def token_fingerprint(token: str | None) -> str | None:
    """A short, non-reversible identifier of a token (never the token itself)."""
    if not token:
        return None
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.last_error: str | None = None  # the latest write failure, until a write succeeds

    def write(
        self,
        action: str,
        outcome: str,
        *,
        client: str | None,
        token: str | None = None,
        before: Any = None,
        after: Any = None,
        detail: Any = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Append one line durably; raise AuditWriteError when that is impossible."""
        entry = {
            "time": (now or datetime.now(UTC)).isoformat(),
            "action": action,
            "outcome": outcome,
            "client": client,
            "token_fingerprint": token_fingerprint(token),
            "before": before,
            "after": after,
        }
        if detail is not None:
            entry["detail"] = detail
        line = json.dumps(entry, default=_default, sort_keys=False) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode("utf-8"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            self.last_error = f"cannot write the audit log {self.path}: {exc.strerror or exc}"
            raise AuditWriteError(self.last_error) from exc
        self.last_error = None
        return entry

    def check_writable(self) -> str | None:
        """None when the log can be appended to, else the reason (also kept as last_error)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            self.last_error = f"audit log {self.path} is not writable: {exc.strerror or exc}"
            return self.last_error
        return None

    def health_reasons(self) -> list[str]:
        return [self.last_error] if self.last_error else []
