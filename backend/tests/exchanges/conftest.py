"""Exchange test fixtures: one simulated market per module and the local Binance server with the
account endpoints (backend/tests/fakes/binance_account.py) on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.market.sources.simulated import SimulatedMarket
from backend.tests.fakes.binance_account import MatchingEngine, running_account
from backend.tests.fakes.binance_server import FakeBinance


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(42)


@pytest.fixture
def server(market: SimulatedMarket) -> Iterator[tuple[FakeBinance, MatchingEngine]]:
    with running_account(market) as running:
        yield running
