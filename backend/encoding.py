"""JSON-safe values: anything a client sent, made encodable (no NaN/Infinity, no lone surrogates).

Error answers and audit lines echo what a client sent; JSON has no NaN or Infinity and UTF-8 has no
lone surrogates, so an echo of such input must be rewritten, or the answer itself fails with a 500.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def safe_text(text: str) -> str:
    """``text`` with every code point that UTF-8 cannot carry written as a ``\\udXXX`` escape."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def encodable(value: Any) -> Any:
    """A copy of a JSON-like value that ``json.dumps(..., allow_nan=False)`` and UTF-8 accept."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {safe_text(str(key)): encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encodable(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return safe_text(str(value))


def find_unencodable(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where in a parsed JSON value a string with a lone surrogate or a non-finite number sits."""
    if isinstance(value, str):
        return path if has_lone_surrogate(value) else None
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and has_lone_surrogate(key):
                return (*path, safe_text(key))
            found = find_unencodable(item, (*path, str(key)))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = find_unencodable(item, (*path, index))
            if found is not None:
                return found
    return None
