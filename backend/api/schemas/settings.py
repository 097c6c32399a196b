"""Schemas of /settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class SettingItem(BaseModel):
    name: str = Field(description="Environment variable name.")
    section: str
    value: Any = Field(description='Effective value; secrets are shown as "**********" when set.')
    source: Literal["default", "env", "override"]
    tunable: bool
    secret: bool
    description: str


class SettingsResponse(BaseModel):
    settings: list[SettingItem]


class SettingsUpdateResponse(SettingsResponse):
    changed: dict[str, Any] = Field(description="name -> {before, after} of each applied change")
