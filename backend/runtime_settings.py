"""Run-time settings: validate like the environment, persist in runtime_settings, apply live."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.runtime import SettingsHolder
from config.settings import Settings, field_refs
from database.models.core import RuntimeSetting

REDACTED = "**********"


def _jsonable(value: Any) -> Any:
    """The JSON form of a setting value, as it would be written in the environment."""
    if isinstance(value, SecretStr):
        return REDACTED if value.get_secret_value() else ""
    from pydantic import TypeAdapter

    return TypeAdapter(type(value)).dump_python(value, mode="json") if value is not None else None


def effective_values(settings: Settings) -> dict[str, Any]:
    """Every setting by environment name, JSON-ready, secrets redacted."""
    values: dict[str, Any] = {}
    for env, ref in field_refs().items():
        section = getattr(settings, ref.section)
        value = getattr(section, ref.field)
        if ref.secret:
            values[env] = REDACTED if value is not None and value.get_secret_value() else None
        else:
            values[env] = json.loads(json.dumps(_jsonable(value), default=str))
    return values


def load_overrides(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        return {row.name: row.value for row in session.scalars(select(RuntimeSetting))}


class RuntimeSettingsService:
    def __init__(self, holder: SettingsHolder, sessions: sessionmaker[Session]) -> None:
        self.holder = holder
        self._sessions = sessions

    def describe(self) -> list[dict[str, Any]]:
        values = effective_values(self.holder.current)
        return [
            {
                "name": env,
                "section": ref.section,
                "value": values[env],
                "source": self.holder.source(env),
                "tunable": ref.tunable,
                "secret": ref.secret,
                "description": ref.description,
            }
            for env, ref in field_refs().items()
        ]

    def preview(self, changes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Validate without applying; {name: {before, after}}. Raises ConfigError."""
        new = self.holder.validate(changes)
        before, after = effective_values(self.holder.current), effective_values(new)
        return {name: {"before": before[name], "after": after[name]} for name in changes}

    def apply(self, changes: Mapping[str, Any], actor: str) -> dict[str, dict[str, Any]]:
        """Persist first (committed), then apply in memory."""
        diff = self.preview(changes)
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            for name, value in changes.items():
                row = session.get(RuntimeSetting, name)
                if row is None:
                    session.add(RuntimeSetting(name=name, value=value, updated_at=now, updated_by=actor))
                else:
                    row.value, row.updated_at, row.updated_by = value, now, actor
        self.holder.apply(changes)
        return diff
