"""Run-time settings: validate like the environment, persist in runtime_settings, apply live."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, SecretStr, TypeAdapter
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from backend.amounts import decimal_text
from config.redaction import redact
from config.runtime import SettingsHolder
from config.settings import Settings, field_refs
from database.models.core import RuntimeSetting

REDACTED = "**********"
_SCHEDULER_PREFIXES = ("QUANTUM_TRADER_", "QT_SCHEDULER_")


def _jsonable(value: Any) -> Any:
    """The JSON form of a setting value (Decimal and paths as strings, models as objects)."""
    if isinstance(value, SecretStr):
        return REDACTED if value.get_secret_value() else ""
    return _ANY.dump_python(_plain_decimals(value), mode="json")


def _plain_decimals(value: Any) -> Any:
    """Decimals as the API writes amounts ("0.00000001", not pydantic's "1E-8"), inside models too."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, BaseModel):
        return {name: _plain_decimals(item) for name, item in value.model_dump(by_alias=True).items()}
    if isinstance(value, dict):
        return {key: _plain_decimals(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_decimals(item) for item in value]
    return value


_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def effective_values(settings: Settings) -> dict[str, Any]:
    """Every setting by environment name, JSON-ready, secrets redacted."""
    values: dict[str, Any] = {}
    for env, ref in field_refs().items():
        section = getattr(settings, ref.section)
        value = getattr(section, ref.field)
        if ref.secret:
            values[env] = REDACTED if value is not None and value.get_secret_value() else None
        else:
            values[env] = redact(_jsonable(value))  # database URLs lose their password
    return values


def load_overrides(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        return {row.name: row.value for row in session.scalars(select(RuntimeSetting))}


class RuntimeSettingsService:
    """Precedence, highest first: a run-time override (PUT /settings, the runtime_settings table),
    then the environment (or backend/.env), then the default. DELETE /settings/{name} drops the
    override, so the environment's value applies again."""

    def __init__(self, holder: SettingsHolder, sessions: sessionmaker[Session]) -> None:
        self.holder = holder
        self._sessions = sessions
        self._cached: tuple[Settings, dict[str, Any]] | None = None
        self._scheduler_cached: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._base_values = effective_values(holder.base)

    def effective(self) -> dict[str, Any]:
        """effective_values() of the current settings, computed once per settings change."""
        current = self.holder.current
        cached = self._cached
        if cached is None or cached[0] is not current:
            cached = (current, effective_values(current))
            self._cached = cached
        return cached[1]

    def scheduler_configuration(self) -> dict[str, Any]:
        """The scheduler's share of effective(): QUANTUM_TRADER_* and QT_SCHEDULER_* values."""
        values = self.effective()
        cached = self._scheduler_cached
        if cached is None or cached[0] is not values:
            subset = {name: value for name, value in values.items() if name.startswith(_SCHEDULER_PREFIXES)}
            cached = (values, subset)
            self._scheduler_cached = cached
        return cached[1]

    def describe(self) -> list[dict[str, Any]]:
        values = self.effective()
        return [
            {
                "name": env,
                "section": ref.section,
                "value": values[env],
                "source": self.holder.source(env),
                "environment_value": self._base_values[env],
                "environment_source": self.holder.base_source(env),
                "tunable": ref.tunable,
                "secret": ref.secret,
                "description": ref.description,
            }
            for env, ref in field_refs().items()
        ]

    def shadowed(self) -> list[str]:
        """One line per run-time override that hides a value the environment sets."""
        values = self.effective()
        return [
            f"run-time setting {name}={values[name]!r} (set by PUT /settings) overrides the environment's "
            f"{self._base_values[name]!r}; DELETE /settings/{name} returns to it"
            for name in sorted(self.holder.overrides)
            if name in self._base_values and self.holder.base_source(name) == "env"
        ]

    def preview(self, changes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Validate without applying; {name: {before, after}}. Raises ConfigError."""
        new = self.holder.validate(changes)
        before, after = self.effective(), effective_values(new)
        return {name: {"before": before[name], "after": after[name]} for name in changes}

    def preview_clear(self, name: str) -> dict[str, Any]:
        """{before, after} of dropping the override of ``name``. Raises ConfigError, LookupError."""
        if name not in field_refs():
            raise LookupError(f"{name}: unknown setting")
        if name not in self.holder.overrides:
            raise LookupError(f"{name}: no run-time override (its value comes from the {self.holder.source(name)})")
        new = self.holder.preview_clear([name])
        return {"before": self.effective()[name], "after": effective_values(new)[name]}

    def changed_elsewhere(self) -> tuple[dict[str, Any], list[str]]:
        """Persisted overrides that differ from the ones in memory (another replica accepted them),
        and the names whose override another replica deleted."""
        mine = self.holder.overrides
        stored = load_overrides(self._sessions)
        changed = {name: value for name, value in stored.items() if mine.get(name) != value}
        return changed, sorted(name for name in mine if name not in stored)

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

    def clear(self, name: str) -> dict[str, Any]:
        """Delete the persisted override (committed), then drop it in memory; {before, after}."""
        diff = self.preview_clear(name)
        with self._sessions.begin() as session:
            session.execute(delete(RuntimeSetting).where(RuntimeSetting.name == name))
        self.holder.clear([name])
        return diff
