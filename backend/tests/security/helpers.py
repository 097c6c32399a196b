"""Shared helpers of the security tests: raw JSON bodies (NaN, lone surrogates) and the audit file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JSON_HEADERS = {"Content-Type": "application/json"}


def raw(text: str) -> bytes:
    """A body exactly as written: Python's JSON parser reads NaN, Infinity and ``\\ud800`` escapes."""
    return text.encode("ascii")


def audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_encodes(body: bytes) -> Any:
    """The answer is strict JSON (no NaN) in valid UTF-8."""
    text = body.decode("utf-8")
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(AssertionError(c)))
