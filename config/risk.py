"""Risk guard settings: limits, price sanity bounds, kill switch default and state location."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.base import Section, resolve_backend_path, tunable
from config.database import normalise_database_url


class PriceBounds(BaseModel):
    """Inclusive bounds a price must fall within to be considered sane."""

    model_config = ConfigDict(frozen=True)

    min_price: Decimal = Field(gt=0)
    max_price: Decimal = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> PriceBounds:
        if self.min_price >= self.max_price:
            raise ValueError("min_price must be below max_price")
        return self


# Per-symbol sanity bounds: wide enough for years of normal markets, narrow enough to stop a price
# that is off by a factor of 1000 (a wrong decimal shift, a quote in the wrong unit).
DEFAULT_SYMBOL_PRICE_BOUNDS: dict[str, PriceBounds] = {
    "BTCUSDT": PriceBounds(min_price=Decimal("1000"), max_price=Decimal("10000000")),
    "ETHUSDT": PriceBounds(min_price=Decimal("50"), max_price=Decimal("1000000")),
}


def _optional_limit(value: Any) -> Any:
    """Unset, blank or non-positive disables an optional limit."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if Decimal(str(value)) <= 0:
            return None
    except ArithmeticError:
        return value  # let Decimal validation name the bad input
    return value


class RiskSettings(Section):
    kill_switch: bool = Field(
        False,
        alias="QT_KILL_SWITCH",
        description="Kill switch default; an override set through the API wins until reset.",
    )
    kill_switch_cancels_open: bool = Field(
        True,
        alias="QT_KILL_SWITCH_CANCELS_OPEN",
        description="Turning the kill switch on cancels every open (resting) order of the service.",
    )
    max_notional_per_trade: Decimal = Field(
        Decimal("1000"),
        alias="QT_MAX_NOTIONAL_PER_TRADE",
        gt=0,
        description="Largest notional (quote asset) allowed for one order.",
        json_schema_extra=tunable(),
    )
    max_daily_loss: Decimal = Field(
        Decimal("500"),
        alias="QT_MAX_DAILY_LOSS",
        gt=0,
        description="Realised loss in the UTC day after which new risk is refused.",
        json_schema_extra=tunable(),
    )
    max_position_per_symbol: Decimal | None = Field(
        None,
        alias="QT_MAX_POSITION_PER_SYMBOL",
        description="Cap on one symbol's projected notional; unset or <= 0 disables it.",
        json_schema_extra=tunable(),
    )
    max_gross_exposure: Decimal | None = Field(
        None,
        alias="QT_MAX_GROSS_EXPOSURE",
        description="Cap on the summed notional of all positions; unset or <= 0 disables it.",
        json_schema_extra=tunable(),
    )
    max_price_deviation_pct: Decimal = Field(
        Decimal("5"),
        alias="QT_MAX_PRICE_DEVIATION_PCT",
        gt=0,
        le=100,
        description="Largest distance, in percent, between an order price and the reference price.",
        json_schema_extra=tunable(),
    )
    max_price_staleness_seconds: float = Field(
        300.0,
        alias="QT_MAX_PRICE_STALENESS_SECONDS",
        gt=0,
        le=86_400,
        description="Reference prices older than this are refused as stale.",
        json_schema_extra=tunable(),
    )
    min_price: Decimal = Field(
        Decimal("0.00000001"),
        alias="QT_MIN_PRICE",
        gt=0,
        description="Global lower price bound for symbols without their own bounds.",
    )
    max_price: Decimal = Field(
        Decimal("10000000"),
        alias="QT_MAX_PRICE",
        gt=0,
        description="Global upper price bound for symbols without their own bounds.",
    )
    symbol_price_bounds: dict[str, PriceBounds] = Field(
        default_factory=lambda: dict(DEFAULT_SYMBOL_PRICE_BOUNDS),
        alias="QT_SYMBOL_PRICE_BOUNDS",
        description='JSON object of per-symbol bounds, e.g. {"BTCUSDT": {"min_price": 1000, "max_price": 10000000}}.',
    )
    max_drawdown_pct: Decimal | None = Field(
        None,
        alias="QT_MAX_DRAWDOWN_PCT",
        le=100,
        description=(
            "Equity drawdown (percent below the high-water mark of the portfolio marks over "
            "QT_DRAWDOWN_WINDOW_DAYS) that halts trading and refuses new buys; unset or <= 0 disables it."
        ),
        json_schema_extra=tunable(),
    )
    drawdown_window_days: int = Field(
        30,
        alias="QT_DRAWDOWN_WINDOW_DAYS",
        ge=1,
        le=3650,
        description="Days of portfolio marks whose highest equity is the drawdown's high-water mark.",
        json_schema_extra=tunable(),
    )
    symbol_cooldown_minutes: float = Field(
        0.0,
        alias="QT_SYMBOL_COOLDOWN_MINUTES",
        ge=0,
        le=1440,
        description="No new buy of a symbol for this long after a loss-making sale of it; 0 disables it.",
        json_schema_extra=tunable(),
    )
    max_daily_turnover: Decimal | None = Field(
        None,
        alias="QT_MAX_DAILY_TURNOVER",
        description="Most quote traded (buys and sales) per UTC day, pending included; unset or <= 0 disables it.",
        json_schema_extra=tunable(),
    )
    halt_after_failures: int = Field(
        5,
        alias="QT_RISK_HALT_AFTER_FAILURES",
        ge=0,
        le=1000,
        description="Consecutive exchange failures that turn the kill switch on; 0 disables.",
    )
    state_db: str = Field(
        "backend/data/risk_state.db",
        alias="QT_RISK_STATE_DB",
        description="SQLite path (relative to backend/) or database URL holding the guard's state.",
    )

    @field_validator(
        "max_position_per_symbol", "max_gross_exposure", "max_drawdown_pct", "max_daily_turnover", mode="before"
    )
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return _optional_limit(value)

    @field_validator("state_db", mode="after")
    @classmethod
    def _state_db(cls, value: str) -> str:
        if "://" in value:
            # the same normalisation as DATABASE_URL: postgresql:// means psycopg 3 (no psycopg2 here)
            return normalise_database_url(value)
        return str(resolve_backend_path(value))

    @model_validator(mode="after")
    def _bounds(self) -> RiskSettings:
        if self.min_price >= self.max_price:
            raise ValueError("QT_MIN_PRICE must be below QT_MAX_PRICE")
        return self

    @property
    def state_db_url(self) -> str:
        if "://" in self.state_db:
            return self.state_db
        return f"sqlite:///{self.state_db}"

    def price_bounds(self, symbol: str) -> PriceBounds:
        bounds = self.symbol_price_bounds.get(symbol)
        if bounds is not None:
            return bounds
        return PriceBounds(min_price=self.min_price, max_price=self.max_price)
