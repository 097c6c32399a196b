"""Each filter alone: what it keeps, what it removes and the reason it gives."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from backend.liquidity.filters import FILTERS, Candidate, FilterContext, build_filter
from backend.tests.liquidity.factories import NOW, Sym, book, rules, ticker
from config.settings import Settings, load_settings


def _settings(**liquidity: Any) -> Settings:
    return load_settings({"liquidity": liquidity}, env_file=False)


def _candidate(s: Sym) -> Candidate:
    return Candidate(s.symbol, rules(s), ticker(s) if s.ticker else None, book(s) if s.spread_bps is not None else None)


def _reason(name: str, s: Sym, settings: Settings | None = None, bases: frozenset[str] | None = None) -> str | None:
    flt = build_filter(name, settings or _settings())
    context = FilterContext(now=NOW, base_assets=bases if bases is not None else frozenset({"BTC", "ETH", s.base}))
    return flt.reason(_candidate(s), context)


@pytest.mark.parametrize(
    ("name", "sym", "env", "expected"),
    [
        # status
        ("status", Sym("BTC"), {}, None),
        ("status", Sym("WAVES", status="HALT"), {}, "status HALT"),
        ("status", Sym("OLD", status="BREAK"), {}, "status BREAK"),
        ("status", Sym("MARG", spot_allowed=False), {}, "spot trading not allowed"),
        # quote asset: default is QT_EXECUTION_QUOTE_ASSET (USDT)
        ("quote_asset", Sym("BTC"), {}, None),
        ("quote_asset", Sym("BTC", quote="EUR"), {}, "quote EUR not in USDT"),
        ("quote_asset", Sym("BTC", quote="FDUSD"), {"QT_LIQUIDITY_QUOTE_ASSETS": "USDT,FDUSD"}, None),
        ("quote_asset", Sym("BTC", quote="USDT"), {"QT_LIQUIDITY_QUOTE_ASSETS": "FDUSD"}, "quote USDT not in FDUSD"),
        # stablecoin base
        ("stablecoin_base", Sym("USDC"), {}, "base USDC is a stablecoin"),
        ("stablecoin_base", Sym("FDUSD"), {}, "base FDUSD is a stablecoin"),
        ("stablecoin_base", Sym("EUR"), {}, "base EUR is a stablecoin"),
        ("stablecoin_base", Sym("BTC"), {}, None),
        ("stablecoin_base", Sym("USDC"), {"QT_LIQUIDITY_STABLECOINS": "DAI"}, None),
        # minimum 24h quote volume
        ("min_quote_volume", Sym("BTC", quote_volume=1_000_000), {}, None),
        ("min_quote_volume", Sym("TINY", quote_volume=999_999), {}, "24h quote volume 999999 < 1000000"),
        ("min_quote_volume", Sym("NOTICK", ticker=False), {}, "no 24h ticker"),
        ("min_quote_volume", Sym("TINY", quote_volume=10), {"QT_LIQUIDITY_MIN_QUOTE_VOLUME": "0"}, None),
        # maximum spread (bps from the book top)
        ("max_spread", Sym("BTC", spread_bps=25), {}, None),
        ("max_spread", Sym("DUSK", spread_bps=180), {}, "spread 180.0 bps > 25"),
        ("max_spread", Sym("NOBOOK", spread_bps=None), {}, "no book top"),
        ("max_spread", Sym("DUSK", spread_bps=180), {"QT_LIQUIDITY_MAX_SPREAD_BPS": "200"}, None),
        # price range
        ("price_range", Sym("PEPE", price=0.0000014), {}, "price 0.0000014 < 0.0001"),
        ("price_range", Sym("BTC", price=60_000), {}, None),
        ("price_range", Sym("BTC", price=60_000), {"QT_LIQUIDITY_MAX_PRICE": "50000"}, "price 60000 > 50000"),
        ("price_range", Sym("BTC", price=60_000, ticker=False), {}, None),  # the book's mid stands in
        ("price_range", Sym("GHOST", ticker=False, spread_bps=None), {}, "no price"),
        # listing age
        ("listing_age", Sym("NOVA", listed_days_ago=2), {}, "listed 2.0 days ago < 30"),
        ("listing_age", Sym("BTC", listed_days_ago=30), {}, None),
        ("listing_age", Sym("LIVE", listed_days_ago=None), {}, None),  # unknown date (Binance): passes
        ("listing_age", Sym("NOVA", listed_days_ago=2), {"QT_LIQUIDITY_MIN_LISTING_DAYS": "0"}, None),
        # blacklist / whitelist
        ("blacklist", Sym("DOGE"), {"QT_LIQUIDITY_BLACKLIST": "dogeusdt"}, "blacklisted"),
        ("blacklist", Sym("BTC"), {"QT_LIQUIDITY_BLACKLIST": "DOGEUSDT"}, None),
        ("whitelist", Sym("BTC"), {}, None),
        ("whitelist", Sym("BTC"), {"QT_LIQUIDITY_WHITELIST": "BTCUSDT,ETHUSDT"}, None),
        ("whitelist", Sym("SOL"), {"QT_LIQUIDITY_WHITELIST": "BTCUSDT,ETHUSDT"}, "not in whitelist"),
    ],
)
def test_filter_keeps_or_removes_with_reason(name: str, sym: Sym, env: dict[str, str], expected: str | None) -> None:
    assert _reason(name, sym, _settings(**env)) == expected


@pytest.mark.parametrize(
    ("base", "known", "expected"),
    [
        ("BTCUP", {"BTC"}, "base BTCUP is a leveraged token (BTC UP)"),
        ("ETHDOWN", {"ETH"}, "base ETHDOWN is a leveraged token (ETH DOWN)"),
        ("XRPBULL", set(), "base XRPBULL is a leveraged token (XRP BULL)"),
        ("EOSBEAR", set(), "base EOSBEAR is a leveraged token (EOS BEAR)"),
        ("BNBUP", {"BNB"}, "base BNBUP is a leveraged token (BNB UP)"),
        ("OPUP", {"OP"}, "base OPUP is a leveraged token (OP UP)"),  # short underlying, but listed
        # the base is checked, not the symbol, and a suffix alone is not enough
        ("JUP", set(), None),
        ("UP", set(), None),
        ("SUPER", set(), None),
        ("BTC", {"BTC"}, None),
    ],
)
def test_leveraged_token_checks_the_base_asset(base: str, known: set[str], expected: str | None) -> None:
    assert _reason("leveraged_token", Sym(base), bases=frozenset(known | {base})) == expected


def test_every_filter_has_a_one_line_description_and_typed_params() -> None:
    for name, cls in FILTERS.items():
        assert cls.name == name
        assert cls.description
        assert "\n" not in cls.description
        assert cls.params_model.model_config.get("extra") == "forbid"


def test_params_refuse_unknown_keys_and_bad_values() -> None:
    cls = FILTERS["min_quote_volume"]
    assert cls.params_model.model_validate({"QT_LIQUIDITY_MIN_QUOTE_VOLUME": "5"}).min_quote_volume == Decimal(5)
    with pytest.raises(ValueError, match="QT_LIQUIDITY_MIN_QUOTE_VOLUME"):
        cls.params_model.model_validate({"QT_LIQUIDITY_MIN_QUOTE_VOLUME": "-1"})
    with pytest.raises(ValueError, match="extra"):
        cls.params_model.model_validate({"QT_LIQUIDITY_MIN_QUOTE_VOLUME": "5", "typo": 1})
