"""Scheduler settings: cadences (0 = not scheduled), switches and the refreshed symbols."""

from __future__ import annotations

from pydantic import Field, field_validator

from config.base import Section, SymbolList, tunable


class SchedulerSettings(Section):
    disabled: bool = Field(
        False,
        alias="QUANTUM_TRADER_DISABLE_SCHEDULER",
        description="1 skips starting the scheduler (the API still serves).",
    )
    refresh_seconds: int = Field(
        180,
        alias="QUANTUM_TRADER_REFRESH_SECONDS",
        ge=0,
        le=86_400,
        description="Market/sentiment cache refresh cadence in seconds; 0 = not scheduled.",
        json_schema_extra=tunable(),
    )
    symbols: SymbolList = Field(
        default_factory=lambda: ["BTCUSDT", "ETHUSDT"],
        alias="QUANTUM_TRADER_SYMBOLS",
        description="Comma-separated symbols always refreshed, besides the current universe.",
        json_schema_extra=tunable(),
    )
    liquidity_refresh_seconds: int = Field(
        900,
        alias="QUANTUM_TRADER_LIQUIDITY_REFRESH_SECONDS",
        ge=0,
        le=604_800,
        description="Liquidity universe refresh cadence in seconds; 0 = not scheduled.",
        json_schema_extra=tunable(),
    )
    liquidity_disabled: bool = Field(
        False,
        alias="QUANTUM_TRADER_DISABLE_LIQUIDITY",
        description="1 disables the liquidity job while the rest of the scheduler runs.",
    )
    execution_seconds: int = Field(
        1800,
        alias="QUANTUM_TRADER_EXECUTION_SECONDS",
        ge=0,
        le=604_800,
        description="Rebalance cadence in seconds; 0 = not scheduled.",
        json_schema_extra=tunable(),
    )
    execution_disabled: bool = Field(
        False,
        alias="QUANTUM_TRADER_DISABLE_EXECUTION",
        description="1 disables the execution job while the rest of the scheduler runs.",
    )
    portfolio_mark_seconds: int = Field(
        3600,
        alias="QT_PORTFOLIO_MARK_SECONDS",
        ge=0,
        le=3600,
        description="Portfolio mark cadence in seconds (besides the mark after every cycle); 0 = not scheduled.",
        json_schema_extra=tunable(),
    )
    misfire_grace_seconds: int = Field(
        60,
        alias="QT_SCHEDULER_MISFIRE_GRACE_SECONDS",
        ge=1,
        le=86_400,
        description="A run late by more than this is skipped (coalesced into the next).",
    )
    leader_lock_key: int = Field(
        724_411_001,
        alias="QT_SCHEDULER_LEADER_LOCK_KEY",
        ge=-(2**63),
        le=2**63 - 1,
        description="PostgreSQL advisory lock key that elects the replica running jobs.",
    )

    @field_validator("symbols", mode="after")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one symbol is required")
        return value
