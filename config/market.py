"""Market data settings: source selection, simulation seed, Binance endpoint, caches, sentiment."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from config.base import Section, tunable


class MarketSource(StrEnum):
    SIMULATED = "simulated"
    BINANCE = "binance"
    REPLAY = "replay"


class SentimentSource(StrEnum):
    NONE = "none"
    SIMULATED = "simulated"
    FEAR_GREED = "fear_greed"


class MarketSettings(Section):
    source: MarketSource = Field(
        MarketSource.SIMULATED,
        alias="QT_MARKET_DATA_SOURCE",
        description="Where market data comes from: simulated, binance or replay.",
    )
    sim_seed: int = Field(42, alias="QT_SIM_SEED", ge=0, le=2**32 - 1, description="Seed of the simulated market.")
    binance_api_url: str | None = Field(
        None,
        alias="QT_BINANCE_API_URL",
        description="Override of the Binance REST base URL (mirror, proxy, local test server).",
    )
    binance_timeout_seconds: float = Field(
        10.0,
        alias="QT_BINANCE_TIMEOUT_SECONDS",
        gt=0,
        le=120,
        description="HTTP timeout of each Binance request.",
    )
    binance_weight_budget: int = Field(
        1200,
        alias="QT_BINANCE_WEIGHT_BUDGET",
        ge=1,
        le=6000,
        description=(
            "Request weight per minute the service may use (X-MBX-USED-WEIGHT-1M); "
            "a call that would exceed it is not sent."
        ),
        json_schema_extra=tunable(),
    )
    replay_dir: Path | None = Field(
        None,
        alias="QT_REPLAY_DIR",
        description="Directory of SYMBOL.csv kline files for the replay source.",
    )
    replay_spread_bps: float = Field(
        5.0,
        alias="QT_REPLAY_SPREAD_BPS",
        ge=0,
        le=10_000,
        description="Synthetic bid/ask spread (basis points) the replay source puts around each close.",
    )
    kline_interval: str = Field(
        "1h",
        alias="QT_MARKET_KLINE_INTERVAL",
        pattern=r"^(1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d)$",
        description="Bar interval kept warm for features.",
    )
    history_bars: int = Field(
        200,
        alias="QT_MARKET_HISTORY_BARS",
        ge=10,
        le=5000,
        description="Bars per symbol kept in the kline cache.",
    )
    cache_ttl_seconds: float = Field(
        60.0,
        alias="QT_MARKET_CACHE_TTL_SECONDS",
        ge=0,
        le=86_400,
        description="Time-to-live of the market caches.",
        json_schema_extra=tunable(),
    )
    breaker_failures: int = Field(
        5,
        alias="QT_MARKET_BREAKER_FAILURES",
        ge=1,
        le=1000,
        description="Consecutive source failures that open the circuit breaker.",
        json_schema_extra=tunable(),
    )
    breaker_cooldown_seconds: float = Field(
        300.0,
        alias="QT_MARKET_BREAKER_COOLDOWN_SECONDS",
        ge=0,
        le=86_400,
        description="Seconds an open breaker waits before trying the source again.",
        json_schema_extra=tunable(),
    )
    sentiment_source: SentimentSource = Field(
        SentimentSource.SIMULATED,
        alias="QT_SENTIMENT_SOURCE",
        description="Sentiment provider: none, simulated or fear_greed.",
    )
    sentiment_url: str = Field(
        "https://api.alternative.me/fng/",
        alias="QT_SENTIMENT_URL",
        description="Base URL of the Crypto Fear & Greed index API.",
    )

    @model_validator(mode="after")
    def _replay_needs_dir(self) -> MarketSettings:
        if self.source is MarketSource.REPLAY and self.replay_dir is None:
            raise ValueError("QT_REPLAY_DIR is required when QT_MARKET_DATA_SOURCE=replay")
        return self
