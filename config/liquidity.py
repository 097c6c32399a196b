"""Liquidity universe settings: filters, ranking sizes and the blend with the model."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator, model_validator

from config.base import CsvList, Section, SymbolList, tunable

# The names backend/liquidity/filters/registry.py implements (a test keeps the two equal); known
# here so that `python -m backend --check` and start-up refuse an unknown name in one line.
FILTER_NAMES = (
    "status",
    "quote_asset",
    "stablecoin_base",
    "leveraged_token",
    "min_quote_volume",
    "max_spread",
    "price_range",
    "listing_age",
    "blacklist",
    "whitelist",
)

# Assets pegged to a currency: a pair of one against the quote carries no tradable risk.
DEFAULT_STABLECOINS = [
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "FDUSD",
    "DAI",
    "USDP",
    "PAX",
    "USDD",
    "PYUSD",
    "GUSD",
    "LUSD",
    "FRAX",
    "SUSD",
    "USDE",
    "USD1",
    "RLUSD",
    "EURI",
    "AEUR",
    "EURC",
    "EUR",
    "GBP",
    "TRY",
    "BRL",
]

DEFAULT_FILTERS = [
    "status",
    "quote_asset",
    "stablecoin_base",
    "leveraged_token",
    "min_quote_volume",
    "max_spread",
    "price_range",
    "listing_age",
    "blacklist",
    "whitelist",
]


class LiquiditySettings(Section):
    filters: CsvList = Field(
        default_factory=lambda: list(DEFAULT_FILTERS),
        alias="QT_LIQUIDITY_FILTERS",
        description="Ordered, comma-separated filter chain; an unknown name stops start-up.",
    )
    stablecoins: SymbolList = Field(
        default_factory=lambda: list(DEFAULT_STABLECOINS),
        alias="QT_LIQUIDITY_STABLECOINS",
        description="Base assets treated as stablecoins or fiat (their pairs are never selected).",
        json_schema_extra=tunable(),
    )
    quote_assets: SymbolList = Field(
        default_factory=list,
        alias="QT_LIQUIDITY_QUOTE_ASSETS",
        description="Quote assets allowed in the universe; empty means QT_EXECUTION_QUOTE_ASSET.",
        json_schema_extra=tunable(),
    )
    min_quote_volume: Decimal = Field(
        Decimal("1000000"),
        alias="QT_LIQUIDITY_MIN_QUOTE_VOLUME",
        ge=0,
        description="Minimum 24h quote volume.",
        json_schema_extra=tunable(),
    )
    max_spread_bps: Decimal = Field(
        Decimal("25"),
        alias="QT_LIQUIDITY_MAX_SPREAD_BPS",
        gt=0,
        description="Maximum bid/ask spread in basis points.",
        json_schema_extra=tunable(),
    )
    min_price: Decimal = Field(
        Decimal("0.0001"),
        alias="QT_LIQUIDITY_MIN_PRICE",
        ge=0,
        description="Lowest last price admitted.",
        json_schema_extra=tunable(),
    )
    max_price: Decimal | None = Field(
        None,
        alias="QT_LIQUIDITY_MAX_PRICE",
        gt=0,
        description="Highest last price admitted; unset = no upper bound.",
        json_schema_extra=tunable(),
    )
    min_listing_days: int = Field(
        30,
        alias="QT_LIQUIDITY_MIN_LISTING_DAYS",
        ge=0,
        le=10_000,
        description="Minimum days since listing.",
        json_schema_extra=tunable(),
    )
    blacklist: SymbolList = Field(
        default_factory=list,
        alias="QT_LIQUIDITY_BLACKLIST",
        description="Symbols never selected.",
        json_schema_extra=tunable(),
    )
    whitelist: SymbolList = Field(
        default_factory=list,
        alias="QT_LIQUIDITY_WHITELIST",
        description="When set, only these symbols may be selected.",
        json_schema_extra=tunable(),
    )
    spread_penalty: float = Field(
        0.02,
        alias="QT_LIQUIDITY_SPREAD_PENALTY",
        ge=0,
        le=10,
        description="Liquidity score lost per bps of spread (the score is log10 of the 24h quote volume).",
        json_schema_extra=tunable(),
    )
    universe_max: int = Field(
        50,
        alias="QT_LIQUIDITY_UNIVERSE_MAX",
        ge=1,
        le=5000,
        description="Ranked symbols kept before the blend.",
        json_schema_extra=tunable(),
    )
    selection_min: int = Field(
        3,
        alias="QT_LIQUIDITY_SELECTION_MIN",
        ge=1,
        le=1000,
        description="Fewest symbols a selection holds (when that many are eligible).",
        json_schema_extra=tunable(),
    )
    selection_max: int = Field(
        10,
        alias="QT_LIQUIDITY_SELECTION_MAX",
        ge=1,
        le=1000,
        description="Most symbols a selection holds.",
        json_schema_extra=tunable(),
    )
    liq_weight: float = Field(
        0.6,
        alias="QT_LIQUIDITY_LIQ_WEIGHT",
        ge=0,
        le=1000,
        description="Weight of the liquidity ranking in the blend (normalised with the model weight).",
        json_schema_extra=tunable(),
    )
    model_weight: float = Field(
        0.4,
        alias="QT_LIQUIDITY_MODEL_WEIGHT",
        ge=0,
        le=1000,
        description="Weight of the model view in the blend (normalised with the liquidity weight).",
        json_schema_extra=tunable(),
    )
    model_sell_threshold: float = Field(
        0.55,
        alias="QT_LIQUIDITY_MODEL_SELL_THRESHOLD",
        ge=0,
        le=1,
        description="SELL confidence at or above which a symbol is heavily down-weighted.",
        json_schema_extra=tunable(),
    )
    max_per_base: int = Field(
        1,
        alias="QT_LIQUIDITY_MAX_PER_BASE",
        ge=0,
        le=1000,
        description="Most picks per base asset; 0 = no cap.",
        json_schema_extra=tunable(),
    )
    max_weight: float = Field(
        0.35,
        alias="QT_LIQUIDITY_MAX_WEIGHT",
        gt=0,
        le=1,
        description="Cap on one symbol's weight; the excess is redistributed.",
        json_schema_extra=tunable(),
    )

    @field_validator("filters", mode="after")
    @classmethod
    def _known_filters(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in FILTER_NAMES]
        if unknown:
            raise ValueError(f"unknown filter {', '.join(unknown)} (known: {', '.join(FILTER_NAMES)})")
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"filter listed twice: {', '.join(repeated)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LiquiditySettings:
        if self.liq_weight + self.model_weight <= 0:
            raise ValueError("QT_LIQUIDITY_LIQ_WEIGHT and QT_LIQUIDITY_MODEL_WEIGHT cannot both be zero")
        if self.selection_min > self.selection_max:
            raise ValueError("QT_LIQUIDITY_SELECTION_MIN must not exceed QT_LIQUIDITY_SELECTION_MAX")
        if self.max_price is not None and self.max_price <= self.min_price:
            raise ValueError("QT_LIQUIDITY_MAX_PRICE must be above QT_LIQUIDITY_MIN_PRICE")
        return self
