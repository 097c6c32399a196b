"""Acceptance: on the simulated market every planted bad symbol is excluded, by the filter that names it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from backend.liquidity.selection import select
from backend.market.service import MarketService
from backend.market.sources.simulated import PLANTED_REJECT_KINDS, SimulatedMarket
from backend.tests.conftest import ADMIN_HEADERS
from config.settings import Settings, load_settings

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


def test_the_running_service_excludes_the_planted_symbols(
    client_for: Callable[[Settings], Any], settings: Settings
) -> None:
    """Through the app as configured by default: simulated market, no model."""
    client = client_for(settings)
    run = client.post("/liquidity/refresh", headers=ADMIN_HEADERS).json()["run"]
    assert run["market_source"] == "simulated"
    assert run["blend_mode"] == "liquidity_only"
    reported = {e["symbol"]: step["filter"] for step in run["analytics"]["filters"] for e in step["examples"]}
    exclusions = client.get("/liquidity/exclusions", headers=ADMIN_HEADERS).json()["exclusions"]
    for symbol, kind in PLANTED_REJECT_KINDS.items():
        assert symbol not in run["weights"]
        assert exclusions[symbol]["filter"] in EXPECTED_FILTERS[kind]
        assert reported[symbol] == exclusions[symbol]["filter"]
