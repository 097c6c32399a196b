"""The data a backtest trades on: a market source that shows only what the backtest clock allows.

`BacktestData` wraps a live source built on the backtest clock (the replay source over a folder
of SYMBOL.csv files, or the simulated market) with what the engine needs to plan a run: the bar
interval, the range covered and the symbols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.market.source import MarketDataSource, interval_delta, to_ms
from backend.market.sources.replay import ReplayMarketSource
from backend.market.store import KlineStore
from database.models.market import Kline as KlineRow


class BacktestInputError(ValueError):
    """Bad input for a run (unknown symbol, empty range, interval mismatch, range not covered)."""


# The most bar closes one run visits: two years of 1-minute bars (its list of times is built before
# the run starts, and one request must not be able to ask for billions).
MAX_BARS = 1_100_000
# The simulated market makes its days one by one from its epoch: a run ends at most this far from it.
SIMULATED_SPAN = timedelta(days=3653)


def first_close(start: datetime, step: timedelta) -> datetime:
    """The first bar close of the interval's grid at or after ``start``."""
    seconds = int(step.total_seconds())
    offset = int(start.timestamp()) % seconds
    return start + timedelta(seconds=seconds - offset) if offset else start


def bar_count(start: datetime, end: datetime, step: timedelta) -> int:
    """How many bar closes of `step` lie in start .. end (inclusive), without listing them."""
    first = first_close(start, step)
    return max(0, int((end - first) // step) + 1) if end >= first else 0


def check_range(
    start: datetime, end: datetime, step: timedelta, interval: str, *, simulated_from: datetime | None = None
) -> None:
    """BacktestInputError when the range holds more than MAX_BARS bars of the interval, or (the
    simulated market, made day by day from ``simulated_from``) ends past SIMULATED_SPAN from it."""
    if simulated_from is not None and end > simulated_from + SIMULATED_SPAN:
        raise BacktestInputError(
            f"--end {end.isoformat()} is past the simulated market's last day "
            f"{(simulated_from + SIMULATED_SPAN).date().isoformat()} (it is made day by day from "
            f"{simulated_from.date().isoformat()}, at most {SIMULATED_SPAN.days:,} days)"
        )
    bars = bar_count(start, end, step)
    if bars > MAX_BARS:
        raise BacktestInputError(
            f"range {start.isoformat()} .. {end.isoformat()} is {bars:,} bars of {interval}: "
            f"at most {MAX_BARS:,} a run (split the range, or use a longer --interval)"
        )


@dataclass(frozen=True)
class BacktestData:
    source: MarketDataSource
    interval: str
    first_open: datetime  # the first bar's open time
    last_open: datetime | None  # the last bar's open time (None: the simulated market never ends)
    symbols: tuple[str, ...]
    description: str

    @property
    def step(self) -> timedelta:
        return interval_delta(self.interval)


def open_replay(
    directory: Path, clock: Callable[[], datetime], *, interval: str | None = None, spread_bps: float = 5.0
) -> BacktestData:
    source = ReplayMarketSource(Path(directory), spread_bps=spread_bps, clock=clock)
    if interval is not None and interval != source.interval:
        raise BacktestInputError(
            f"--interval {interval} does not match the files in replay:{Path(directory).name}: {source.interval} bars"
        )
    return BacktestData(
        source=source,
        interval=source.interval,
        first_open=source.first_open,
        last_open=source.last_open,
        symbols=tuple(source.symbols),
        description=f"replay:{Path(directory).name}",  # the folder's name: no path of the host
    )


def open_simulated(clock: Callable[[], datetime], *, interval: str = "1h", seed: int = 42) -> BacktestData:
    # imported here: the simulated market brings scipy (about a second of start-up) that replays do not need
    from backend.market.sources.simulated import EPOCH, SimulatedMarket

    source = SimulatedMarket(seed, clock=clock, generate_ahead=True)
    return BacktestData(
        source=source,
        interval=interval,
        first_open=EPOCH,
        last_open=None,
        symbols=tuple(source.symbols),
        description=f"simulated (seed {seed})",
    )


def open_database(
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    folder: Path,
    *,
    label: str,
    interval: str,
    symbols: tuple[str, ...] = (),
    spread_bps: float = 5.0,
) -> BacktestData:
    """The klines the data pipeline stored (table klines, source ``label``), replayed from ``folder``.

    They are written once to ``folder`` in the replay format and read by the replay source, so a
    stored history and a folder of files are traded by exactly the same code."""
    store = KlineStore(sessions)
    with sessions() as session:
        query = select(KlineRow.symbol).where(KlineRow.source == label, KlineRow.interval == interval).distinct()
        stored = sorted(session.scalars(query))
    chosen = list(symbols) or stored
    missing = [s for s in chosen if s not in stored]
    if not stored or missing:
        what = ", ".join(missing) if missing else "any symbol"
        raise BacktestInputError(f"the database holds no {interval} klines of {what} from source {label!r}")
    folder.mkdir(parents=True, exist_ok=True)
    for symbol in chosen:
        bars = store.stored(label, symbol, interval, datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
        lines = ["open_time,open,high,low,close,volume,quote_volume"]
        lines += [
            f"{to_ms(k.open_time)},{k.open:f},{k.high:f},{k.low:f},{k.close:f},{k.volume:f},{k.quote_volume:f}"
            for k in bars
        ]
        (folder / f"{symbol}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = open_replay(folder, clock, interval=interval, spread_bps=spread_bps)
    return BacktestData(
        source=data.source,
        interval=data.interval,
        first_open=data.first_open,
        last_open=data.last_open,
        symbols=data.symbols,
        description=f"database:{label}",
    )
