"""Where training data comes from: ``simulated``, ``binance``, ``replay:DIR`` or ``replay:FILE``, ``database``.

Every loader returns wide Bars plus a description of what was read (recorded with the run). A
source that cannot deliver raises DataError; nothing falls back to another source or to made-up data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ai_engine.dataset import DataError, check_spacing, load_bars
from ai_engine.features import Bars, bars_from_frame, interval_delta, sentiment_feature
from config.settings import Settings

Progress = Callable[[str], None]

DEFAULT_SYMBOL_COUNT = 20
_STABLE_BASES = {"USDC", "FDUSD", "TUSD", "BUSD", "DAI", "USDP", "PYUSD", "EUR", "EURI", "AEUR", "USDT", "UST"}
_LEVERAGED = re.compile(r".+(UP|DOWN|BULL|BEAR)$")


def _window(end: datetime, interval: str, days: int, extra_bars: int) -> tuple[datetime, datetime]:
    return end - timedelta(days=days) - extra_bars * interval_delta(interval), end


@dataclass(frozen=True)
class TrainingData:
    bars: Bars
    description: dict[str, Any]
    sentiment: pd.Series | None = None  # index value / 100, stamped when published


def load_training_data(
    source: str,
    settings: Settings,
    *,
    symbols: list[str],
    interval: str,
    days: int,
    end: datetime,
    extra_bars: int,
    progress: Progress | None = None,
) -> TrainingData:
    """Bars (and sentiment history where the source has one) from the named source."""
    bars, description = load_training_bars(
        source,
        settings,
        symbols=symbols,
        interval=interval,
        days=days,
        end=end,
        extra_bars=extra_bars,
        progress=progress,
    )
    sentiment = None
    if source == "simulated" and settings.market.sentiment_source.value == "simulated":
        sentiment = simulated_sentiment_history(settings.market.sim_seed, bars.times[0], bars.times[-1])
        description["sentiment_source"] = "simulated"
    else:
        # No history is available offline for the live index: the feature stays missing in training,
        # so the model learns no split on it and a live value cannot change its output.
        description["sentiment_source"] = None
    return TrainingData(bars, description, sentiment)


def _fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def simulated_sentiment_history(seed: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """The simulated sentiment index, day by day over [start, end], as the service would have read it."""
    from backend.market.sentiment import SimulatedSentiment

    days = pd.date_range(start.floor("D"), end, freq="1D")
    readings = [SimulatedSentiment(seed, clock=_fixed(day.to_pydatetime())).fetch() for day in days]
    return sentiment_feature((r.as_of, r.value) for r in readings)


def load_training_bars(
    source: str,
    settings: Settings,
    *,
    symbols: list[str],
    interval: str,
    days: int,
    end: datetime,
    extra_bars: int,
    progress: Progress | None = None,
) -> tuple[Bars, dict[str, Any]]:
    """Bars of ``days`` (plus ``extra_bars`` of warm-up) ending at ``end`` from the named source."""
    say: Progress = progress or (lambda _m: None)
    if source.startswith("replay:") or source == "replay":
        directory = source.partition(":")[2] or (str(settings.market.replay_dir) if settings.market.replay_dir else "")
        if not directory:
            raise DataError("replay needs a directory or a file: --source replay:DIR, replay:FILE (or QT_REPLAY_DIR)")
        return _replay(Path(directory), symbols, interval, days, extra_bars, say)
    start, end = _window(end, interval, days, extra_bars)
    if source == "simulated":
        return _simulated(settings, symbols, interval, start, end, say)
    if source == "database":
        return _database(settings, symbols, interval, start, end, say)
    if source == "binance":
        return _binance(settings, symbols, interval, start, end, say)
    raise DataError(f"unknown source {source!r}: use simulated, binance, replay:DIR, replay:FILE or database")


def default_symbols(rules: dict[str, Any], tickers: dict[str, Any], quote: str, count: int) -> list[str]:
    """The most traded trading symbols of the quote asset, leaving out stablecoins and leveraged tokens."""
    candidates = [
        s
        for s, r in rules.items()
        if r.is_trading
        and r.quote_asset == quote
        and r.base_asset not in _STABLE_BASES
        and not _LEVERAGED.fullmatch(r.base_asset)
    ]
    candidates.sort(key=lambda s: (-float(tickers[s].quote_volume) if s in tickers else 0.0, s))
    return candidates[:count]


def _simulated(
    settings: Settings, symbols: list[str], interval: str, start: datetime, end: datetime, say: Progress
) -> tuple[Bars, dict[str, Any]]:
    from backend.market.errors import UnknownSymbolError
    from backend.market.sources.simulated import SimulatedMarket

    market = SimulatedMarket(settings.market.sim_seed)
    if not symbols:
        symbols = default_symbols(
            market.symbol_rules(), market.tickers_24h(), settings.execution.quote_asset, DEFAULT_SYMBOL_COUNT
        )
    try:
        arrays = market.history_arrays(interval, start, end, symbols)
    except UnknownSymbolError as exc:
        raise DataError(f"the simulated market has no symbol {exc}") from exc
    if arrays.open_time.size == 0:
        raise DataError(f"the simulated market has no {interval} bars between {start} and {end}")
    say(f"simulated market (seed {settings.market.sim_seed}): {len(symbols)} symbols x {arrays.open_time.size} bars")
    times = pd.DatetimeIndex(pd.to_datetime(arrays.open_time, unit="s", utc=True))
    bars = Bars(
        interval,
        times,
        tuple(arrays.symbols),
        np.ascontiguousarray(arrays.open.T, dtype=np.float64),
        np.ascontiguousarray(arrays.high.T, dtype=np.float64),
        np.ascontiguousarray(arrays.low.T, dtype=np.float64),
        np.ascontiguousarray(arrays.close.T, dtype=np.float64),
        np.ascontiguousarray(arrays.volume.T, dtype=np.float64),
    )
    return bars, {"source": "simulated", "sim_seed": settings.market.sim_seed}


def read_replay_file(path: Path) -> pd.DataFrame:
    """One replay file (open_time in ms, open, high, low, close, volume[, quote_volume])."""
    try:
        frame = pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    missing = [c for c in ("open_time", "open", "high", "low", "close", "volume") if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks the columns {missing}")
    if frame.empty:
        raise DataError(f"{path} has no rows")
    try:
        frame["open_time"] = pd.to_datetime(frame["open_time"].astype("int64"), unit="ms", utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: open_time must be integer milliseconds: {exc}") from exc
    return frame


def _replay(
    directory: Path, symbols: list[str], interval: str, days: int, extra_bars: int, say: Progress
) -> tuple[Bars, dict[str, Any]]:
    if directory.is_file():  # replay:FILE: one symbol, named by the file
        files = {directory.stem.upper(): directory}
    elif not directory.is_dir():
        raise DataError(f"replay directory {directory} does not exist")
    else:
        files = {p.stem.upper(): p for p in sorted(directory.glob("*.csv"))}
    if not files:
        raise DataError(f"replay directory {directory} holds no SYMBOL.csv files")
    wanted = symbols or sorted(files)
    unknown = [s for s in wanted if s not in files]
    if unknown:
        raise DataError(f"replay directory {directory} has no file for {', '.join(unknown)}")
    frames = []
    for symbol in wanted:
        frame = read_replay_file(files[symbol])
        frame["symbol"] = symbol
        frames.append(frame)
        say(f"read {len(frame)} bars of {symbol} from {files[symbol].name}")
    data = pd.concat(frames, ignore_index=True)
    # The window counts back from the files' own end: replay data is history, not "now".
    end = data["open_time"].max()
    start = end - pd.Timedelta(days=days) - extra_bars * pd.Timedelta(interval_delta(interval))
    data = data[data["open_time"] >= start]
    bars = bars_from_frame(data, interval)
    check_spacing(bars)  # a file of another interval is refused here, before anything is trained
    steps = np.diff(bars.times.asi8)
    if len(steps) and (steps != int(interval_delta(interval).total_seconds() * 1e9)).any():
        odd = int((steps != int(interval_delta(interval).total_seconds() * 1e9)).sum())
        say(f"warning: {odd} gaps between bars (expected {interval})")
    return bars, {"source": f"replay:{directory}", "files": [files[s].name for s in wanted]}


def _database(
    settings: Settings, symbols: list[str], interval: str, start: datetime, end: datetime, say: Progress
) -> tuple[Bars, dict[str, Any]]:
    from sqlalchemy import select

    from database.models.market import KlineRow
    from database.session import make_engine

    stored_source = settings.market.source.value
    engine = make_engine(settings.database.effective_url)
    try:
        with engine.connect() as conn:
            query = select(
                KlineRow.symbol,
                KlineRow.open_time,
                KlineRow.open,
                KlineRow.high,
                KlineRow.low,
                KlineRow.close,
                KlineRow.volume,
            ).where(
                KlineRow.source == stored_source,
                KlineRow.interval == interval,
                KlineRow.open_time >= start,
                KlineRow.open_time <= end,
            )
            if symbols:
                query = query.where(KlineRow.symbol.in_(symbols))
            rows = conn.execute(query).all()
    finally:
        engine.dispose()
    if not rows:
        raise DataError(
            f"the klines table has no {stored_source} {interval} bars between {start:%Y-%m-%d} and {end:%Y-%m-%d}"
            + (f" for {', '.join(symbols)}" if symbols else "")
            + ": run the data pipeline first"
        )
    frame = pd.DataFrame(rows, columns=["symbol", "open_time", "open", "high", "low", "close", "volume"])
    for col in ("open", "high", "low", "close", "volume"):
        frame[col] = frame[col].astype(np.float64)
    missing = sorted(set(symbols) - set(frame["symbol"]))
    if missing:
        raise DataError(f"the klines table has no {interval} bars for {', '.join(missing)}")
    say(f"database: {len(frame)} {stored_source} bars of {frame['symbol'].nunique()} symbols")
    return bars_from_frame(frame, interval), {"source": "database", "stored_source": stored_source}


def _binance(
    settings: Settings, symbols: list[str], interval: str, start: datetime, end: datetime, say: Progress
) -> tuple[Bars, dict[str, Any]]:
    from backend.market.sources.binance import BinanceMarketSource

    market = BinanceMarketSource.from_settings(settings)
    try:
        if not symbols:
            try:
                rules, tickers = market.symbol_rules(), market.tickers_24h()
            except Exception as exc:
                raise DataError(f"binance: could not list symbols: {type(exc).__name__}: {exc}") from exc
            symbols = default_symbols(rules, tickers, settings.execution.quote_asset, DEFAULT_SYMBOL_COUNT)
        source = _Paged(market)
        bars = load_bars(source, symbols, interval, start, end, progress=say)
    finally:
        market.close()
    return bars, {"source": "binance", "api_url": settings.market.binance_api_url}


class _Paged:
    """Pages a MarketDataSource's klines (at most 1000 per call) over a long window."""

    def __init__(self, market: Any) -> None:
        self._market = market

    def klines(self, symbol: str, interval: str, start: datetime, end: datetime) -> list[Any]:
        out: list[Any] = []
        cursor = start
        step = interval_delta(interval)
        while cursor <= end:
            page = self._market.klines(symbol, interval, start=cursor, end=end, limit=1000)
            if not page:
                break
            out.extend(page)
            cursor = page[-1].open_time + step
            if len(page) < 1000:
                break
        return out


def utc_now() -> datetime:
    return datetime.now(UTC)
