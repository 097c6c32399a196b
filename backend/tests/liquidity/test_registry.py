"""The registry and the configured chain: order, report, and refusing what cannot work."""

from __future__ import annotations

from typing import Any

import pytest

from backend.liquidity.filters import FILTERS, FilterContext, build_chain, build_filter
from backend.liquidity.filters.registry import EXAMPLES_PER_FILTER
from backend.liquidity.selection import candidates
from backend.tests.liquidity.factories import DEFAULT_MARKET, NOW, Sym, snapshot
from config.liquidity import FILTER_NAMES
from config.settings import ConfigError, Settings, load_settings


def _settings(**liquidity: Any) -> Settings:
    return load_settings({"liquidity": liquidity}, env_file=False)


def test_registry_implements_exactly_the_names_the_settings_accept() -> None:
    assert tuple(FILTERS) == FILTER_NAMES


def test_unknown_filter_name_stops_start_up_in_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        _settings(QT_LIQUIDITY_FILTERS="status,volume_rank")
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("QT_LIQUIDITY_FILTERS=")
    assert "unknown filter volume_rank" in info.value.problems[0]


def test_filter_listed_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="filter listed twice: status"):
        _settings(QT_LIQUIDITY_FILTERS="status,blacklist,status")


def test_build_filter_names_unknown_filter() -> None:
    with pytest.raises(ConfigError, match="QT_LIQUIDITY_FILTERS: unknown filter 'nope'"):
        build_filter("nope", _settings())


def test_bad_param_stops_the_chain_naming_filter_and_variable() -> None:
    # the settings section refuses this value itself; the filter's params re-check it for settings
    # built in code (model_copy skips validation), so a bad param never reaches a run
    settings = _settings()
    broken = settings.model_copy(update={"liquidity": settings.liquidity.model_copy(update={"max_spread_bps": -5})})
    with pytest.raises(ConfigError) as info:
        build_chain(broken)
    assert info.value.problems == [
        "QT_LIQUIDITY_FILTERS[max_spread]: QT_LIQUIDITY_MAX_SPREAD_BPS=-5: Input should be greater than 0"
    ]


def test_chain_runs_in_configured_order_and_first_refusal_names_the_filter() -> None:
    chain = build_chain(_settings(QT_LIQUIDITY_FILTERS="min_quote_volume,status"))
    assert chain.names == ["min_quote_volume", "status"]
    market = snapshot([Sym("BTC"), Sym("WAVES", status="HALT", quote_volume=10)])
    outcome = chain.apply(candidates(market), FilterContext(NOW, frozenset({"BTC", "WAVES"})))
    # WAVES fails both; the first filter in the chain is the one reported
    assert outcome.removed["WAVESUSDT"].filter == "min_quote_volume"
    assert [s.removed_count for s in outcome.steps] == [1, 0]
    assert [c.symbol for c in outcome.eligible] == ["BTCUSDT"]


def test_report_counts_every_removal_and_keeps_a_few_examples() -> None:
    many = [Sym(f"X{i:02d}", quote_volume=10) for i in range(12)] + [Sym("BTC")]
    outcome = build_chain(_settings()).apply(
        candidates(snapshot(many)), FilterContext(NOW, frozenset(s.base for s in many))
    )
    step = next(s for s in outcome.steps if s.name == "min_quote_volume")
    assert step.removed_count == 12
    assert len(step.examples) == EXAMPLES_PER_FILTER
    assert len([r for r in outcome.removed.values() if r.filter == "min_quote_volume"]) == 12


def test_default_chain_removes_each_planted_bad_symbol_by_the_right_filter() -> None:
    outcome = build_chain(_settings()).apply(
        candidates(snapshot(DEFAULT_MARKET)), FilterContext(NOW, frozenset(s.base for s in DEFAULT_MARKET))
    )
    assert {s: r.filter for s, r in outcome.removed.items()} == {
        "WAVESUSDT": "status",
        "BTCEUR": "quote_asset",
        "USDCUSDT": "stablecoin_base",
        "BTCUPUSDT": "leveraged_token",
        "DUSKUSDT": "max_spread",
        "NOVAUSDT": "listing_age",
    }
    assert sorted(c.symbol for c in outcome.eligible) == [
        "ADAUSDT",
        "BNBUSDT",
        "BTCUSDT",
        "ETHUSDT",
        "SOLUSDT",
        "XRPUSDT",
    ]
