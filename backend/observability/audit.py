"""The admin audit log: one JSON line per admin action, flushed and fsynced before the answer.

Refused attempts without a valid token are aggregated (one line per client and minute, with a
count), actions are cut to a bounded length, and the file rotates by size (the stdlib's
RotatingFileHandler: ``<path>.1`` newest ... ``<path>.N`` oldest, which read_tail follows). A line
that could not be written when an action had to go ahead anyway (turning the kill switch on) is
kept and written as soon as the log is writable again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import logging.handlers
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from backend.encoding import encodable
from config.redaction import redact

TAIL_BLOCK_BYTES = 64 * 1024
MAX_ACTION_CHARS = 200
MAX_CLIENT_CHARS = 64
MAX_AGGREGATED_CLIENTS = 10_000  # per minute; beyond it, attempts count under client "*"
MAX_SAMPLE_ACTIONS = 5
MAX_PENDING_LINES = 10_000

log = logging.getLogger(__name__)


class AuditWriteError(RuntimeError):
    """The audit line could not be written; the action it describes must not be applied."""


def token_fingerprint(token: str | None) -> str | None:
    """A short, non-reversible identifier of a token (never the token itself)."""
    if not token:
        return None
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def bounded(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more characters]"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class _PrivateRotatingHandler(logging.handlers.RotatingFileHandler):
    """RotatingFileHandler whose files are created 0600 (audit lines name clients and tokens)."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding="utf-8")


@dataclass
class _Bucket:
    """Refused unauthenticated attempts of one client in one minute, beyond the first (written)."""

    first_time: datetime
    count: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    actions: list[str] = field(default_factory=list)


class AuditLog:
    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 10 * 1_048_576,
        backups: int = 10,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._max_bytes = max_bytes
        self._backups = backups
        self._handler: _PrivateRotatingHandler | None = None
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._pending: deque[str] = deque(maxlen=MAX_PENDING_LINES)
        self.last_error: str | None = None  # the latest write failure, until a write succeeds

    # writing ----------------------------------------------------------------------------------
    def entry(
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
        **extra: Any,
    ) -> dict[str, Any]:
        """The line's content: bounded action, encodable values, database passwords redacted."""
        entry: dict[str, Any] = {
            "time": (now or self._clock()).isoformat(),
            "action": bounded(action, MAX_ACTION_CHARS),
            "outcome": bounded(outcome, MAX_ACTION_CHARS),
            "client": bounded(client, MAX_CLIENT_CHARS),
            "token_fingerprint": token_fingerprint(token),
            "before": before,
            "after": after,
        }
        if detail is not None:
            entry["detail"] = detail
        entry.update(extra)
        return redact(encodable(json.loads(json.dumps(entry, default=_default))))

    def write(self, action: str, outcome: str, **fields: Any) -> dict[str, Any]:
        """Append one line durably; raise AuditWriteError when that is impossible."""
        entry = self.entry(action, outcome, **fields)
        with self._lock:
            self._flush_buckets_locked(self._clock(), everything=False)
            self._append_locked(json.dumps(entry, allow_nan=False))
        return entry

    def write_or_keep(self, action: str, outcome: str, **fields: Any) -> bool:
        """Append a line, or keep it to append as soon as the log is writable; True when written now."""
        entry = self.entry(action, outcome, **fields)
        line = json.dumps(entry, allow_nan=False)
        with self._lock:
            try:
                self._append_locked(line)
            except AuditWriteError:
                self._pending.append(line)
                return False
        return True

    def ensure_writable(self) -> None:
        """Raise AuditWriteError unless a line could be appended now (checked before an action)."""
        with self._lock:
            try:
                self._stream_locked()
            except OSError as exc:
                self._close_locked()
                self._fail(exc)
            finally:
                self._release_locked()

    def _stream_locked(self) -> IO[str]:
        if self._handler is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handler = _PrivateRotatingHandler(
                self.path, maxBytes=self._max_bytes, backupCount=self._backups, encoding="utf-8", delay=True
            )
        handler = self._handler
        if handler.stream is None:
            handler.stream = handler._open()
        stream: IO[str] = handler.stream
        return stream

    def _release_locked(self) -> None:
        """Close the file between lines: nothing stays open, and a file moved away is not written."""
        handler = self._handler
        if handler is not None and handler.stream is not None:
            stream, handler.stream = handler.stream, None
            stream.close()

    def _append_locked(self, line: str) -> None:
        """Write the kept lines first (in order), then ``line``; each one fsynced."""
        try:
            while self._pending:
                self._write_one_locked(self._pending[0])
                self._pending.popleft()
            self._write_one_locked(line)
        except OSError as exc:
            self._close_locked()
            self._fail(exc)
        finally:
            self._release_locked()
        self.last_error = None

    def _write_one_locked(self, text: str) -> None:
        self._stream_locked()
        handler = self._handler
        if handler is None:  # pragma: no cover - set by _stream_locked
            raise OSError("audit handler missing")
        if handler.shouldRollover(logging.makeLogRecord({"msg": text})):
            handler.doRollover()  # renames <path> to <path>.1 (and so on), dropping the oldest
        stream = self._stream_locked()
        stream.write(text + "\n")
        stream.flush()
        os.fsync(stream.fileno())

    def _fail(self, exc: OSError) -> None:
        self.last_error = f"cannot write the audit log {self.path}: {exc.strerror or exc}"
        raise AuditWriteError(self.last_error) from exc

    def _close_locked(self) -> None:
        if self._handler is not None:
            with contextlib.suppress(OSError):
                self._handler.close()
            self._handler = None

    def close(self) -> None:
        """Write what is aggregated or kept, then close the file."""
        with self._lock:
            try:
                self._flush_buckets_locked(self._clock(), everything=True)
            except AuditWriteError as exc:
                log.error("audit lines lost at shutdown", extra={"error": str(exc), "kept": len(self._pending)})
            self._close_locked()

    # refused attempts without a valid token -----------------------------------------------------
    def refused(self, action: str, reason: str, *, client: str | None, token: str | None = None) -> bool:
        """Record a refused unauthenticated attempt: the first of a client's minute is a line of its
        own (count 1); the others of that minute become one line with their count when it is over.
        True when a line was written now. Raises AuditWriteError."""
        now = self._clock()
        minute = now.strftime("%Y-%m-%dT%H:%M")
        who = bounded(client, MAX_CLIENT_CHARS) or "unknown"
        with self._lock:
            self._flush_buckets_locked(now, everything=False)
            key = (who, minute)
            if key not in self._buckets and len(self._buckets) >= MAX_AGGREGATED_CLIENTS:
                key = ("*", minute)
            bucket = self._buckets.get(key)
            if bucket is None:
                self._buckets[key] = _Bucket(first_time=now)
                entry = self.entry(action, f"refused: {reason}", client=client, token=token, now=now, count=1)
                self._append_locked(json.dumps(entry, allow_nan=False))
                return True
            bucket.count += 1
            bucket.reasons[reason] += 1
            cut = bounded(action, MAX_ACTION_CHARS) or ""
            if len(bucket.actions) < MAX_SAMPLE_ACTIONS and cut not in bucket.actions:
                bucket.actions.append(cut)
            return False

    def flush(self, now: datetime | None = None) -> None:
        """Write the aggregated lines of the minutes that are over (the lifespan calls this)."""
        with self._lock:
            self._flush_buckets_locked(now or self._clock(), everything=False)

    def _flush_buckets_locked(self, now: datetime, *, everything: bool) -> None:
        current = now.strftime("%Y-%m-%dT%H:%M")
        for key in [k for k in self._buckets if everything or k[1] < current]:
            bucket = self._buckets[key]
            if bucket.count:
                client, minute = key
                entry = self.entry(
                    "refused attempts without a valid token",
                    "refused: " + ", ".join(sorted(bucket.reasons)),
                    client=client,
                    now=now,
                    count=bucket.count,
                    minute=minute,
                    reasons=dict(bucket.reasons),
                    sample_actions=bucket.actions,
                )
                self._append_locked(json.dumps(entry, allow_nan=False))
            del self._buckets[key]

    # health -----------------------------------------------------------------------------------
    def check_writable(self) -> str | None:
        """None when the log can be appended to, else the reason (also kept as last_error)."""
        try:
            self.ensure_writable()
        except AuditWriteError as exc:
            return str(exc)
        return None

    @property
    def pending(self) -> int:
        """Lines kept because the log could not be written when their action went ahead."""
        return len(self._pending)

    def health_reasons(self) -> list[str]:
        reasons = [self.last_error] if self.last_error else []
        if self._pending:
            reasons.append(f"audit lines not yet written: {len(self._pending)}")
        return reasons


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
