"""Market test fixtures: a frozen clock, a simulated market on it, and the local Binance server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from backend.market.sources.simulated import SimulatedMarket
from backend.tests.fakes.binance_server import FakeBinance, running_fake_binance

NOW = datetime(2026, 11, 25, 12, 30, 15, tzinfo=UTC)


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def market(clock: FrozenClock) -> SimulatedMarket:
    return SimulatedMarket(seed=7, clock=clock)


@pytest.fixture
def binance_server(market: SimulatedMarket) -> Iterator[FakeBinance]:
    with running_fake_binance(market) as server:
        yield server
