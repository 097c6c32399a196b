"""The data a backtest trades on: a market source that shows only what the backtest clock allows.

`BacktestData` wraps a live source built on the backtest clock (the replay source over a folder
of SYMBOL.csv files, or the simulated market) with what the engine needs to plan a run: the bar
interval, the range covered and the symbols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from backend.market.source import MarketDataSource, interval_delta
from backend.market.sources.replay import ReplayMarketSource
from backend.market.sources.simulated import EPOCH, SimulatedMarket


class BacktestInputError(ValueError):
    """Bad input for a run (unknown symbol, empty range, interval mismatch, range not covered)."""


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
            f"--interval {interval} does not match the files in {directory}: {source.interval} bars"
        )
    return BacktestData(
        source=source,
        interval=source.interval,
        first_open=source.first_open,
        last_open=source.last_open,
        symbols=tuple(source.symbols),
        description=f"replay:{directory}",
    )


def open_simulated(clock: Callable[[], datetime], *, interval: str = "1h", seed: int = 42) -> BacktestData:
    source = SimulatedMarket(seed, clock=clock)
    return BacktestData(
        source=source,
        interval=interval,
        first_open=EPOCH,
        last_open=None,
        symbols=tuple(source.symbols),
        description=f"simulated (seed {seed})",
    )
