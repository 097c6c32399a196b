"""Schemas of /settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class SettingItem(BaseModel):
    name: str = Field(description="Environment variable name.")
    section: str
    value: Any = Field(description='Effective value; secrets are shown as "**********" when set.')
    source: Literal["default", "env", "override"] = Field(
        description="Where the effective value comes from; an override (PUT /settings) beats the environment."
    )
    environment_value: Any = Field(
        description="The value without any run-time override (the environment's, or the default): "
        "what DELETE /settings/{name} returns to."
    )
    environment_source: Literal["default", "env"]
    tunable: bool
    secret: bool
    description: str


class SettingsResponse(BaseModel):
    settings: list[SettingItem]


class SettingsUpdateResponse(SettingsResponse):
    changed: dict[str, Any] = Field(description="name -> {before, after} of each applied change")


class SettingCleared(SettingsResponse):
    name: str
    before: Any = Field(description="The overriding value that was removed.")
    after: Any = Field(description="The value that applies now (the environment's, or the default).")
