"""The admin audit log: one JSON line per admin action, flushed and fsynced before the answer."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TAIL_BLOCK_BYTES = 64 * 1024


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


@dataclass(frozen=True)
class AuditPage:
    """Entries of the log, newest first; a line that is not a JSON object comes back as ``{"raw": ...}``."""

    entries: list[dict[str, Any]]
    has_more: bool


def read_tail(
    path: Path, *, limit: int, offset: int = 0, action: str | None = None, block: int = TAIL_BLOCK_BYTES
) -> AuditPage:
    """The newest entries, skipping ``offset`` of them; only those whose action contains ``action``.

    The file is read backwards a block at a time, so a page near the end costs the same however long
    the log has grown; past its first line the rotated files (``<name>.1``, ``<name>.2``, ...) follow.
    """
    wanted = action.lower() if action else None
    entries: list[dict[str, Any]] = []
    skipped = 0
    for line in (line for file in _newest_first(path) for line in _lines_backwards(file, block)):
        entry = _parse(line)
        if wanted is not None and wanted not in str(entry.get("action", "")).lower():
            continue
        if skipped < offset:
            skipped += 1
            continue
        if len(entries) == limit:
            return AuditPage(entries, has_more=True)
        entries.append(entry)
    return AuditPage(entries, has_more=False)


def _parse(line: bytes) -> dict[str, Any]:
    text = line.decode("utf-8", errors="replace")
    try:
        entry = json.loads(text)
    except ValueError:
        return {"raw": text}
    return entry if isinstance(entry, dict) else {"raw": text}


def _newest_first(path: Path) -> Iterator[Path]:
    yield path
    index = 1
    while (older := path.with_name(f"{path.name}.{index}")).exists():
        yield older
        index += 1


def _lines_backwards(path: Path, block: int) -> Iterator[bytes]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        position = handle.seek(0, os.SEEK_END)
        rest = b""
        while position > 0:
            step = min(block, position)
            position -= step
            handle.seek(position)
            lines = (handle.read(step) + rest).split(b"\n")
            rest = lines.pop(0)  # may continue in the block before this one
            for line in reversed(lines):
                if line.strip():
                    yield line
        if rest.strip():
            yield rest
