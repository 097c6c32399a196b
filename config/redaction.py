"""Redaction of credentials in text: database URLs lose their password wherever they are shown.

Applied to setting values in answers, configuration errors, log lines, error answers and audit
lines, so a URL such as ``postgresql+psycopg://trader:s3cret@db/qt`` appears as
``postgresql+psycopg://trader:***@db/qt`` everywhere.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED_PASSWORD = "***"  # noqa: S105 - the mask, not a password
# scheme://user:password@host — the password runs to the last "@" before the host part.
_URL_CREDENTIALS = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<password>[^\s'\"]*)@")


def redact_text(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    if "://" not in text:
        return text
    return _URL_CREDENTIALS.sub(lambda m: f"{m['head']}{REDACTED_PASSWORD}@", text)


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with every string redacted (see redact_text)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
