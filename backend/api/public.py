"""What public answers may say about a failure: the failing part and the kind of error, no details.

Error texts carry SQL with parameters, file paths, host names and amounts; those go to the service
log and the admin routes (/scheduler/status, /ai/runs). /health and /health/scheduler, which anyone
who reaches the port can read, show only the kind (``OperationalError``, ``timeout``...).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

# an exception named at the start of a segment: "(psycopg.OperationalError) ...", "OperationalError: ..."
_CLASS_SEGMENT = re.compile(
    r"^\((?:[a-z_]\w*\.)+([A-Z]\w*)\)|^(?:[a-z_]\w*\.)*([A-Z]\w*(?:Error|Exception|Timeout|Warning))\b"
)
# a driver's marker inside a sentence, with its message up to the next parenthesis
_INLINE_CLASS = re.compile(r"\((?:[a-z_][\w]*\.)+([A-Z]\w*)\)[^()]*")
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
    """An error text as a public answer may show it: its first line up to the first exception class
    it names (``failed: (sqlite3.OperationalError) no such table...`` is ``failed: OperationalError``),
    otherwise with SQL, URLs, paths, quoted names and addresses taken out."""
    if text is None:
        return "error"
    value = str(text).strip()
    value = value.splitlines()[0] if value else ""
    segments = value.split(": ")
    for index, segment in enumerate(segments):
        named = _CLASS_SEGMENT.match(segment)
        if named:
            value = ": ".join([*segments[:index], named.group(1) or named.group(2)])
            break
    value = _INLINE_CLASS.sub(lambda m: m.group(1), value)
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


# detail keys that hold amounts (never public) and keys whose texts are errors (public as their kind)
MONEY_KEYS = frozenset(
    {"cash", "equity", "balance", "balances", "pnl", "realised_pnl", "unrealised_pnl", "market_value", "notional"}
)
ERROR_KEYS = frozenset({"error", "errors", "reason", "last_error", "sentiment_error"})
_LOCATORS = _SCRUB[2:4]  # URLs and paths


def public_text(text: str) -> str:
    """A descriptive text (a data source, a symbol list) without the URLs and paths it names."""
    for pattern, replacement in _LOCATORS:
        text = pattern.sub(replacement, text)
    return text


def public_data(value: Any, *, errors: bool = False) -> Any:
    """Nested details as a public answer may show them: no amounts, error texts as their kinds,
    other texts without URLs and paths."""
    if isinstance(value, dict):
        return {
            key: public_data(item, errors=errors or key in ERROR_KEYS)
            for key, item in value.items()
            if key not in MONEY_KEYS
        }
    if isinstance(value, list | tuple):
        return [public_data(item, errors=errors) for item in value]
    if isinstance(value, str):
        return error_kind(value) if errors else public_text(value)
    return value


def public_job_details(job_id: str, details: dict[str, Any]) -> dict[str, Any]:
    """A job's details in /health/scheduler: the rebalance's safe fields, any other job's scrubbed."""
    if job_id == "execution-rebalance":
        return public_execution(details) or {}
    scrubbed: dict[str, Any] = public_data(details)
    return scrubbed
