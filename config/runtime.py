"""Run-time overrides of the tunable settings, validated exactly like the environment."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal

from pydantic import ValidationError

from config.settings import (
    SECTIONS,
    ConfigError,
    Settings,
    check_combinations,
    field_refs,
    format_validation_error,
)

Source = Literal["default", "env", "override"]


class SettingsHolder:
    """Holds the effective Settings: the environment's plus operator overrides.

    Services read ``holder.current`` when they act, so an accepted change applies without restart.
    """

    def __init__(self, base: Settings, overrides: Mapping[str, Any] | None = None) -> None:
        self._base = base
        self._overrides: dict[str, Any] = {}
        self._current = base
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Settings, Settings], None]] = []
        if overrides:
            self._current = self._build(dict(overrides))
            self._overrides = dict(overrides)

    @property
    def current(self) -> Settings:
        return self._current

    @property
    def base(self) -> Settings:
        return self._base

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self._overrides)

    def subscribe(self, listener: Callable[[Settings, Settings], None]) -> None:
        """Call ``listener(old, new)`` after every accepted change."""
        self._listeners.append(listener)

    def validate(self, changes: Mapping[str, Any]) -> Settings:
        """The Settings that ``changes`` would produce; ConfigError names every bad field."""
        refs = field_refs()
        problems = []
        for env in changes:
            ref = refs.get(env)
            if ref is None:
                problems.append(f"{env}: unknown setting")
            elif not ref.tunable:
                problems.append(f"{env}: not tunable at run time (set it in the environment and restart)")
        if problems:
            raise ConfigError(problems)
        return self._build({**self._overrides, **changes})

    def apply(self, changes: Mapping[str, Any]) -> tuple[Settings, Settings]:
        """Validate and apply; returns (old, new). Nothing changes when validation fails."""
        with self._lock:
            new = self.validate(changes)
            old = self._replace({**self._overrides, **changes}, new)
        self._notify(old, new)
        return old, new

    def preview_clear(self, names: Collection[str]) -> Settings:
        """The Settings without the overrides of ``names`` (their environment or default values)."""
        return self._build({name: value for name, value in self._overrides.items() if name not in names})

    def clear(self, names: Collection[str]) -> tuple[Settings, Settings]:
        """Drop the overrides of ``names``: they return to the environment's (or the default) value."""
        with self._lock:
            new = self.preview_clear(names)
            old = self._replace({name: value for name, value in self._overrides.items() if name not in names}, new)
        self._notify(old, new)
        return old, new

    def _replace(self, overrides: dict[str, Any], new: Settings) -> Settings:
        old = self._current
        self._overrides = overrides
        self._current = new
        return old

    def _notify(self, old: Settings, new: Settings) -> None:
        for listener in self._listeners:
            listener(old, new)

    def source(self, env: str) -> Source:
        if env in self._overrides:
            return "override"
        return self.base_source(env)

    def base_source(self, env: str) -> Literal["default", "env"]:
        """Where the value under any override comes from: the environment (or backend/.env) or the default."""
        ref = field_refs()[env]
        section = getattr(self._base, ref.section)
        return "env" if ref.field in section.model_fields_set else "default"

    def _build(self, overrides: Mapping[str, Any]) -> Settings:
        refs = field_refs()
        by_section: dict[str, dict[str, Any]] = {}
        for env, value in overrides.items():
            by_section.setdefault(refs[env].section, {})[env] = value
        sections: dict[str, Any] = {}
        problems: list[str] = []
        for name, section_cls in SECTIONS.items():
            current = getattr(self._base, name)
            changes = by_section.get(name)
            if not changes:
                sections[name] = current
                continue
            values = {
                (info.alias or field): getattr(current, field) for field, info in section_cls.model_fields.items()
            }
            values.update(changes)
            try:
                sections[name] = section_cls.model_validate(values)
            except ValidationError as exc:
                problems.extend(format_validation_error(exc))
        if problems:
            raise ConfigError(problems)
        settings = Settings(**sections)
        problems = check_combinations(settings)
        if problems:
            raise ConfigError(problems)
        return settings


def valid_overrides(base: Settings, stored: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The stored overrides this version accepts, and one line per refused one (not applied).

    A value stored by an older version (or written to the table by hand) that no longer validates
    must not be applied, and must not stop the service: the environment's value stays in force.
    """
    probe = SettingsHolder(base)
    accepted: dict[str, Any] = {}
    refused: list[str] = []
    for name in sorted(stored):
        try:
            probe.validate({**accepted, name: stored[name]})
        except ConfigError as exc:
            refused.append(
                f"run-time setting {name} refused at start-up, not applied (the environment's value stays): "
                + "; ".join(exc.problems)
            )
        else:
            accepted[name] = stored[name]
    return accepted, refused
