"""What public answers may say about a failure: the failing part and the kind of error, no details.

Error texts carry SQL with parameters, file paths, host names and amounts; those go to the service
log and the admin routes (/scheduler/status, /ai/runs). /health and /health/scheduler, which anyone
who reaches the port can read, show only the kind (``OperationalError``, ``timeout``...).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

_LEADING_CLASS = re.compile(r"^\((?:[\w.]+\.)?([A-Z]\w*)\)")
_EXCEPTION = re.compile(r"\b([A-Z][A-Za-z0-9]*(?:Error|Exception|Timeout))\b")
# what details look like in error texts: SQL and its parameters, URLs, paths, quoted names, addresses
_SCRUB = [
    (re.compile(r"\s*\[(?:SQL|parameters):.*$", re.DOTALL), ""),
    (re.compile(r"\s*\(Background on this error at:.*$"), ""),
    (re.compile(r"\b[A-Za-z][\w+.-]*://\S+"), "<url>"),
    (re.compile(r"(?<![\w<])(?:[A-Za-z]:)?[/\\][^\s:'\",;)]+"), "<path>"),
    (re.compile(r"\"[^\"]*\"|'[^']*'"), "<name>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\[[0-9a-fA-F:]+\]"), "<address>"),
]
MAX_KIND_CHARS = 160
# fields of the latest rebalance safe to show anyone (the spec's checklist reads gross_exposure)
PUBLIC_EXECUTION_FIELDS = (
    "last_run_id",
    "status",
    "orders_planned",
    "orders_submitted",
    "orders_skipped",
    "orders_failed",
    "orders_filled",
    "gross_exposure",
    "unresolved_orders",
)


def error_kind(text: Any) -> str:
    """An error text as a public answer may show it: its first line, SQL, URLs, paths, quoted names
    and addresses taken out; a driver error ``(psycopg.OperationalError) ...`` is its class only."""
    if text is None:
        return "error"
    value = str(text).strip()
    leading = _LEADING_CLASS.match(value)
    if leading:
        return leading.group(1)
    value = value.splitlines()[0] if value else ""
    for pattern, replacement in _SCRUB:
        value = pattern.sub(replacement, value)
    value = value.strip()
    if len(value) > MAX_KIND_CHARS:
        value = value[:MAX_KIND_CHARS] + "..."
    return value or "error"


def public_reason(reason: str) -> str:
    """``"<part>: <kind>"`` from a health reason ``"<part>: <details>"``."""
    part, _, rest = reason.partition(": ")
    if not rest:
        return error_kind(reason)
    if part.startswith("job "):  # "job <id>: <problem>"
        return f"{part}: {error_kind(rest)}"
    return f"{part[:40]}: {error_kind(rest)}"


def public_errors(errors: dict[str, Any]) -> dict[str, Any]:
    """Job errors (a text or a mapping of texts) reduced to their kinds."""
    out: dict[str, Any] = {}
    for key, value in errors.items():
        out[key] = {k: error_kind(v) for k, v in value.items()} if isinstance(value, dict) else error_kind(value)
    return out


def public_execution(details: dict[str, Any] | None) -> dict[str, Any] | None:
    if not details:
        return None
    return {name: details[name] for name in PUBLIC_EXECUTION_FIELDS if name in details}


def public_artifact_path(path: str | None) -> str | None:
    """An artifact path relative to the artifacts directory (``<version>/model.pkl``)."""
    if not path:
        return path
    pure = PurePath(path)
    return str(PurePath(pure.parent.name, pure.name))
