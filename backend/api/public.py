"""What public answers may say about a failure: the failing part and the kind of error, no details.

Error texts carry SQL with parameters, file paths, host names and amounts; those go to the service
log and the admin routes (/scheduler/status, /ai/runs). /health and /health/scheduler, which anyone
who reaches the port can read, show only the kind (``OperationalError``, ``timeout``...).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

_EXCEPTION = re.compile(r"\b([A-Z][A-Za-z0-9]*(?:Error|Exception|Timeout|Refused|Unavailable))\b")
_WORDS = re.compile(r"^[A-Za-z][A-Za-z _-]{0,40}")
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
    """The kind of an error text: its first words (up to a digit, a path, a quote or a colon), else
    the exception class it names, else ``error``."""
    if text is None:
        return "error"
    value = str(text).strip()
    words = _WORDS.match(value)
    if words and len(words.group(0).strip()) >= 3:
        return words.group(0).strip()
    found = _EXCEPTION.search(value)
    return found.group(1) if found else "error"


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
