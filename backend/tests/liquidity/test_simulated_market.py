"""Acceptance: on the simulated market every planted bad symbol is excluded, by the filter that names it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.liquidity.selection import select
from backend.market.service import MarketService
from backend.market.sources.simulated import PLANTED_REJECT_KINDS, SimulatedMarket
from config.settings import load_settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EXPECTED_FILTERS = {
    "stablecoin": {"stablecoin_base"},
    "leveraged": {"leveraged_token"},
    "halted": {"status"},
    "fresh_listing": {"listing_age"},
    "illiquid": {"min_quote_volume", "max_spread"},
}


@pytest.mark.parametrize("seed", [42, 7])
async def test_every_planted_bad_symbol_is_excluded_and_named_in_the_report(seed: int) -> None:
    settings = load_settings(env_file=False)
    market = MarketService(SimulatedMarket(seed, lambda: NOW), lambda: settings.market, lambda: NOW)
    selection = select(await market.snapshot(), settings, now=NOW).selection

    assert set(PLANTED_REJECT_KINDS) == {
        "USDCUSDT", "FDUSDUSDT", "BTCUPUSDT", "ETHDOWNUSDT", "WAVESUSDT", "NOVAUSDT", "DUSKUSDT"
    }  # fmt: skip
    named_in_report = {
        example["symbol"]: step["filter"] for step in selection.analytics["filters"] for example in step["examples"]
    }
    for symbol, kind in PLANTED_REJECT_KINDS.items():
        assert symbol not in selection.weights
        assert selection.exclusions[symbol]["filter"] in EXPECTED_FILTERS[kind], symbol
        assert named_in_report[symbol] == selection.exclusions[symbol]["filter"]
    assert selection.status == "ok"
    assert len(selection.picks) == settings.liquidity.selection_max
    assert sum(selection.weights.values()) == 1
