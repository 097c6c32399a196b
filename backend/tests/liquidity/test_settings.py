"""config/liquidity.py: every liquidity variable refuses bad values in one line naming it."""

from __future__ import annotations

import pytest

from config.liquidity import DEFAULT_FILTERS, FILTER_NAMES
from config.settings import ConfigError, load_settings


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("QT_LIQUIDITY_FILTERS", "status,nope"),
        ("QT_LIQUIDITY_STABLECOINS", "US$D"),
        ("QT_LIQUIDITY_QUOTE_ASSETS", "US-DT"),
        ("QT_LIQUIDITY_MIN_QUOTE_VOLUME", "-1"),
        ("QT_LIQUIDITY_MAX_SPREAD_BPS", "0"),
        ("QT_LIQUIDITY_MIN_PRICE", "-1"),
        ("QT_LIQUIDITY_MAX_PRICE", "0"),
        ("QT_LIQUIDITY_MIN_LISTING_DAYS", "-1"),
        ("QT_LIQUIDITY_BLACKLIST", "B@D"),
        ("QT_LIQUIDITY_WHITELIST", "B@D"),
        ("QT_LIQUIDITY_SPREAD_PENALTY", "-0.1"),
        ("QT_LIQUIDITY_SPREAD_PENALTY", "abc"),
        ("QT_LIQUIDITY_UNIVERSE_MAX", "0"),
        ("QT_LIQUIDITY_SELECTION_MIN", "0"),
        ("QT_LIQUIDITY_SELECTION_MAX", "0"),
        ("QT_LIQUIDITY_LIQ_WEIGHT", "-1"),
        ("QT_LIQUIDITY_MODEL_WEIGHT", "-1"),
        ("QT_LIQUIDITY_MODEL_SELL_THRESHOLD", "1.5"),
        ("QT_LIQUIDITY_MAX_PER_BASE", "-1"),
        ("QT_LIQUIDITY_MAX_WEIGHT", "0"),
        ("QT_LIQUIDITY_MAX_WEIGHT", "1.01"),
    ],
)
def test_bad_value_fails_with_one_line_naming_the_variable(env: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"liquidity": {env: value}}, env_file=False)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"{env}=")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"QT_LIQUIDITY_LIQ_WEIGHT": "0", "QT_LIQUIDITY_MODEL_WEIGHT": "0"}, "cannot both be zero"),
        ({"QT_LIQUIDITY_SELECTION_MIN": "5", "QT_LIQUIDITY_SELECTION_MAX": "4"}, "must not exceed"),
        ({"QT_LIQUIDITY_MIN_PRICE": "10", "QT_LIQUIDITY_MAX_PRICE": "10"}, "must be above"),
        ({"QT_LIQUIDITY_FILTERS": "status,blacklist,status"}, "filter listed twice: status"),
    ],
)
def test_inconsistent_combinations_stop_start_up(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"liquidity": values}, env_file=False)


def test_quote_assets_default_to_the_execution_quote_asset() -> None:
    settings = load_settings({"execution": {"QT_EXECUTION_QUOTE_ASSET": "FDUSD"}}, env_file=False)
    assert settings.liquidity.quote_assets == []
    assert settings.liquidity_quote_assets == ["FDUSD"]
    explicit = load_settings({"liquidity": {"QT_LIQUIDITY_QUOTE_ASSETS": "usdt, usdc"}}, env_file=False)
    assert explicit.liquidity_quote_assets == ["USDT", "USDC"]


def test_default_chain_uses_every_filter_once() -> None:
    assert sorted(DEFAULT_FILTERS) == sorted(FILTER_NAMES)
    assert load_settings(env_file=False).liquidity.filters == DEFAULT_FILTERS


def test_a_shorter_chain_is_accepted_in_the_given_order() -> None:
    settings = load_settings({"liquidity": {"QT_LIQUIDITY_FILTERS": " whitelist , status "}}, env_file=False)
    assert settings.liquidity.filters == ["whitelist", "status"]
