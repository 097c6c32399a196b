"""A backtest asked for through the API (POST /backtests), and its run in the worker process.

The request names no path: ``replay`` reads QT_REPLAY_DIR, ``simulated`` the seeded market.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.backtest.clock import BacktestClock
from backend.backtest.data import BacktestData, BacktestInputError, check_range, open_replay, open_simulated
from backend.backtest.engine import RUN_SECTIONS, BacktestConfig, BacktestResult, run_backtest
from backend.market.source import INTERVAL_SECONDS, interval_delta
from backend.market.sources.replay import split_symbols
from config.runtime import SettingsHolder
from config.settings import ConfigError, Settings, field_refs

Baseline = Literal["equal_weight", "liquidity_only", "hold_first"]
ALL_BASELINES: tuple[Baseline, ...] = ("equal_weight", "liquidity_only", "hold_first")
MAX_BPS = 1000  # the most a taker fee or a fixed slippage may be, in bps (the CLI's bound too)
MAX_SEED = 2**31 - 1  # the simulated market's seed (the CLI's bound too)
# Settings a request may set for its run alone (the service's own are unchanged): every setting PUT
# /settings may change in the sections a run reads, and these, which only a live service must not
# change at run time (its ledger's quote asset, the paper exchange's fill model, the filter chain).
# No path, no secret, nothing of the exchange connection; cash and the taker fee have their fields.
RUN_ONLY_SETTINGS = frozenset(
    {
        "QT_EXECUTION_QUOTE_ASSET",
        "QT_EXECUTION_KEEP_ASSETS",
        "QT_PAPER_MAKER_FEE_BPS",
        "QT_PAPER_MAX_SLIPPAGE_BPS",
        "QT_PAPER_FILL_VOLUME_SHARE",
        "QT_PAPER_ORDER_TTL_SECONDS",
        "QT_REPLAY_SPREAD_BPS",
        "QT_LIQUIDITY_FILTERS",
        "QT_MIN_PRICE",
        "QT_MAX_PRICE",
        "QT_RISK_HALT_AFTER_FAILURES",
    }
)
# what the request's own fields set (the engine derives these settings from them)
FIELD_SETTINGS = {
    "QT_MARKET_KLINE_INTERVAL": "interval",
    "QT_MARKET_CACHE_TTL_SECONDS": "market_bars",
    "QT_LIQUIDITY_WHITELIST": "symbols",
    "QT_PAPER_STARTING_CASH": "cash",
    "QT_PAPER_FEE_BPS": "fee_bps",
}
NO_REPLAY_DIR = "source 'replay' needs QT_REPLAY_DIR set on the service"
SETTING_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
SettingValue = str | int | float | bool | list[str]


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["simulated", "replay"] = Field("simulated", description="simulated market, or QT_REPLAY_DIR.")
    interval: str | None = Field(None, description="Bar interval (replay: must match the files; simulated: 1h).")
    start: datetime | None = Field(None, description="First decision time (UTC); default: one day into the data.")
    end: datetime | None = Field(None, description="Last decision time (UTC); required for the simulated source.")
    symbols: list[str] = Field(default_factory=list, max_length=200, description="Default: the filtered universe.")
    market_bars: int = Field(1, ge=1, le=10_000)
    liquidity_bars: int = Field(4, ge=1, le=10_000)
    rebalance_bars: int = Field(4, ge=1, le=10_000)
    cash: Decimal | None = Field(None, gt=0, le=Decimal("1e12"), description="Default: QT_PAPER_STARTING_CASH.")
    fee_bps: Decimal | None = Field(None, ge=0, le=MAX_BPS, description="Default: QT_PAPER_FEE_BPS.")
    slippage: Literal["book"] | Decimal = Field("book", description="'book' walks the paper book; or fixed bps.")
    baselines: list[Baseline] = Field(default_factory=lambda: list(ALL_BASELINES), max_length=len(ALL_BASELINES))
    model: Literal["none"] = Field("none", description="Only 'none' (the liquidity-only blend) so far.")
    seed: int = Field(42, ge=0, le=MAX_SEED)
    settings: dict[str, SettingValue] = Field(
        default_factory=dict,
        max_length=50,
        description="Settings for this run alone, by environment name and as PUT /settings takes them "
        '(e.g. {"QT_LIQUIDITY_QUOTE_ASSETS": "BTC"}); the service\'s own settings are unchanged.',
    )

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None and value not in INTERVAL_SECONDS:
            raise ValueError(f"unsupported interval {value!r} (accepted: {', '.join(INTERVAL_SECONDS)})")
        return value

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-05:00 is past the last datetime in UTC
            raise ValueError(f"{value.isoformat()} is out of range in UTC") from None

    @field_validator("baselines")
    @classmethod
    def _baselines(cls, value: list[Baseline]) -> list[Baseline]:
        twice = sorted({b for b in value if value.count(b) > 1})
        if twice:
            raise ValueError(f"baseline {', '.join(twice)} given more than once")
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        out = [s.strip().upper() for s in value if s.strip()]
        bad = [s for s in out if not s.isalnum() or len(s) > 32]
        if bad:
            raise ValueError(f"not a symbol: {', '.join(bad)}")
        return out

    @field_validator("settings")
    @classmethod
    def _setting_names(cls, value: dict[str, SettingValue]) -> dict[str, SettingValue]:
        bad = [name for name in value if not SETTING_NAME.match(name)]
        if bad:
            raise ValueError(f"{len(bad)} setting name(s) not of the form QT_NAME (at most 64 characters)")
        return value

    @field_validator("slippage")
    @classmethod
    def _slippage(cls, value: str | Decimal) -> str | Decimal:
        if isinstance(value, Decimal) and (not value.is_finite() or not 0 <= value <= MAX_BPS):
            raise ValueError(f"slippage in bps must be between 0 and {MAX_BPS}")
        return value

    @model_validator(mode="after")
    def _range(self) -> BacktestRequest:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if self.source == "simulated" and self.end is None:
            raise ValueError("end is required with the simulated source")
        return self

    def config(self) -> BacktestConfig:
        return BacktestConfig(
            start=self.start,
            end=self.end,
            symbols=tuple(self.symbols),
            market_bars=self.market_bars,
            liquidity_bars=self.liquidity_bars,
            rebalance_bars=self.rebalance_bars,
            cash=self.cash,
            fee_bps=self.fee_bps,
            slippage_bps=None if self.slippage == "book" else Decimal(self.slippage),
            baselines=tuple(self.baselines),
            settings=dict(self.settings),
        )

    def problem(self, settings: Settings) -> str | None:
        """What the worker would refuse, found before queuing it (a 422, not a failed run): a
        setting a run may not set or a bad value, the replay folder unset or missing, or a symbol the
        data does not have. Cheap: no bar is read."""
        refs = field_refs()
        fields = {name: FIELD_SETTINGS[name] for name in self.settings if name in FIELD_SETTINGS}
        if fields:
            named = ", ".join(f"{name} (use {field})" for name, field in sorted(fields.items()))
            return f"settings: {named}: set by the request's own fields"
        allowed = {
            env
            for env, ref in refs.items()
            if (ref.tunable and ref.section in RUN_SECTIONS and not ref.secret) or env in RUN_ONLY_SETTINGS
        }
        refused = sorted(set(self.settings) - allowed)
        if refused:
            return (
                f"settings: {', '.join(refused)}: not a setting a backtest request may set (the tunable market, "
                "liquidity, risk, execution and model settings and docs/backtest.md's list)"
            )
        try:
            settings = self.effective(settings)
        except ConfigError as exc:
            return "settings: " + "; ".join(exc.problems)
        if self.source == "simulated":
            from backend.market.sources.simulated import EPOCH
            from backend.market.sources.simulated_universe import ALL_SYMBOLS

            if self.end is not None:  # the replay's range is bounded by its files
                interval = self.interval or "1h"
                try:
                    start = self.start or EPOCH + timedelta(days=1)
                    check_range(start, self.end, interval_delta(interval), interval, simulated_from=EPOCH)
                except BacktestInputError as exc:
                    return str(exc)
            known = [s.symbol for s in ALL_SYMBOLS]
        else:
            folder = settings.market.replay_dir
            if folder is None:
                return NO_REPLAY_DIR
            if not Path(folder).is_dir():
                return f"source 'replay': QT_REPLAY_DIR {folder} is not a directory"
            assets = split_symbols(p.stem.upper() for p in Path(folder).glob("*.csv") if p.is_file())
            unread = sorted(name for name, pair in assets.items() if pair is None)
            if unread:
                return f"source 'replay': {', '.join(unread)} in QT_REPLAY_DIR end with no known quote asset"
            known = sorted(assets)
        unknown = [s for s in self.symbols if s not in known]
        if unknown:
            return f"unknown symbol {', '.join(unknown)} (the {self.source} data has {', '.join(known)})"
        return None

    def effective(self, settings: Settings) -> Settings:
        """The service's settings with this request's on top (ConfigError names a bad value)."""
        return SettingsHolder(settings, self.settings).current if self.settings else settings

    def open_data(self, settings: Settings, clock: BacktestClock) -> BacktestData:
        settings = self.effective(settings)  # QT_REPLAY_SPREAD_BPS may be the request's
        if self.source == "simulated":
            return open_simulated(clock, interval=self.interval or "1h", seed=self.seed)
        folder = settings.market.replay_dir
        if folder is None:
            raise BacktestInputError(NO_REPLAY_DIR)
        return open_replay(Path(folder), clock, interval=self.interval, spread_bps=settings.market.replay_spread_bps)


def execute(request: BacktestRequest, settings: Settings) -> tuple[BacktestResult, float]:
    """Run the request to the end (blocking); returns the result and the seconds it took."""
    clock = BacktestClock(request.start or datetime(1970, 1, 2, tzinfo=UTC))
    started = time.perf_counter()
    data = request.open_data(settings, clock)
    result = run_backtest(request.config(), data, clock, settings=settings)
    return result, time.perf_counter() - started


def data_range(result: BacktestResult) -> dict[str, Any]:
    return {
        "data": result.data,
        "interval": result.interval,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "bars": result.bars,
        "candles": result.candles,
    }
