"""Shared plumbing for the settings sections: paths, env-file location, list parsing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
BACKEND_DIR = REPO_ROOT / "backend"
ENV_FILE = BACKEND_DIR / ".env"


def resolve_backend_path(value: str | Path) -> Path:
    """Resolve a relative path from the backend package directory.

    The spec spells default paths from the repository root (``backend/data/x``) and also says
    relative paths resolve from the backend package; a leading ``backend/`` is therefore read as
    that same directory, so both spellings name the same file.
    """
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    parts = path.parts
    if parts and parts[0] == "backend":
        path = Path(*parts[1:]) if len(parts) > 1 else Path()
    return BACKEND_DIR / path


# A hard cap on any list setting, before QT_MAX_SYMBOLS (checked across sections) applies.
MAX_LIST_ITEMS = 10_000


def _split_csv(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
        raise ValueError(f"{len(value)} entries: at most {MAX_LIST_ITEMS}")
    return value


def _split_symbols(value: Any) -> Any:
    items = _split_csv(value)
    if isinstance(items, list):
        return [str(item).strip().upper() for item in items]
    return items


_CODE_RE = re.compile(r"^[A-Z0-9]{2,20}$")


def _check_codes(value: list[str]) -> list[str]:
    bad = [item for item in value if not _CODE_RE.match(item)]
    if bad:
        raise ValueError(f"each entry must be 2-20 letters or digits (got {', '.join(bad)})")
    return list(dict.fromkeys(value))  # de-duplicated, in the operator's order


# A comma-separated list in the environment ("a,b,c"), a list everywhere else.
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]
# Upper-cased trading symbols or asset names ("btcusdt, ethusdt" -> ["BTCUSDT", "ETHUSDT"]).
SymbolList = Annotated[list[str], NoDecode, BeforeValidator(_split_symbols), AfterValidator(_check_codes)]


class Section(BaseSettings):
    """One settings section: reads its variables (exact names, as aliases) from env and backend/.env."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        env_ignore_empty=True,
        case_sensitive=True,
        validate_default=True,
        # NaN and infinity are never a setting: a stored Infinity once broke every liquidity refresh
        allow_inf_nan=False,
    )


def tunable() -> dict[str, Any]:
    """Marker for fields that `PUT /settings` may change at run time."""
    return {"tunable": True}
