"""The backtest clock: a callable returning the simulated UTC time, moved forward bar by bar."""

from __future__ import annotations

from datetime import datetime


class BacktestClock:
    """Every service on the trading path reads time from this; only the engine moves it (forward)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the backtest clock needs a UTC-aware datetime")
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment < self._now:
            raise ValueError(f"the backtest clock cannot go back ({moment.isoformat()} < {self._now.isoformat()})")
        self._now = moment
