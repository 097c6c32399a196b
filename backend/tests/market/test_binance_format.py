"""The Binance JSON parsers, on payloads written in Binance's documented format."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from backend.market.binance_format import (
    BinanceFormatError,
    parse_book_tickers,
    parse_depth,
    parse_exchange_info,
    parse_klines,
    parse_symbol,
    parse_tickers,
)


def _symbol(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "symbol": "ETHBTC",
        "status": "TRADING",
        "baseAsset": "ETH",
        "baseAssetPrecision": 8,
        "quoteAsset": "BTC",
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.00001000",
                "maxPrice": "922327.00000000",
                "tickSize": "0.00001000",
            },
            {"filterType": "LOT_SIZE", "minQty": "0.00010000", "maxQty": "100000.00000000", "stepSize": "0.00010000"},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "1951.98110479",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "0.00010000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }
    entry.update(overrides)
    return entry


def _replace_filter(entry: dict[str, Any], kind: str, new: dict[str, Any] | None) -> dict[str, Any]:
    filters = [f for f in entry["filters"] if f["filterType"] != kind]
    if new is not None:
        filters.append(new)
    return {**entry, "filters": filters}


def test_every_filter_is_read_as_decimal() -> None:
    rules = parse_symbol(_symbol())
    assert rules.symbol == "ETHBTC"
    assert rules.base_asset == "ETH"
    assert rules.quote_asset == "BTC"
    assert rules.tick_size == Decimal("0.00001")
    assert rules.min_price == Decimal("0.00001")
    assert rules.max_price == Decimal("922327")
    assert (rules.step_size, rules.min_qty, rules.max_qty) == (Decimal("0.0001"), Decimal("0.0001"), Decimal(100000))
    assert rules.market_max_qty == Decimal("1951.98110479")
    assert rules.market_min_qty == 0
    assert rules.min_notional == Decimal("0.0001")
    assert rules.max_notional == Decimal(9_000_000)
    assert rules.min_notional_applies_to_market is True
    assert rules.max_notional_applies_to_market is False
    assert rules.is_trading
    assert rules.spot_allowed


def test_zero_market_step_means_the_lot_size_step() -> None:
    assert parse_symbol(_symbol()).market_step_size == Decimal("0.0001")
    entry = _replace_filter(
        _symbol(),
        "MARKET_LOT_SIZE",
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.1", "maxQty": "50", "stepSize": "0.1"},
    )
    assert parse_symbol(entry).market_step_size == Decimal("0.1")


def test_legacy_min_notional_is_read_when_notional_is_absent() -> None:
    entry = _replace_filter(_symbol(), "NOTIONAL", None)
    entry = _replace_filter(
        entry,
        "MIN_NOTIONAL",
        {"filterType": "MIN_NOTIONAL", "minNotional": "10.00000000", "applyToMarket": False, "avgPriceMins": 5},
    )
    rules = parse_symbol(entry)
    assert rules.min_notional == Decimal(10)
    assert rules.max_notional == 0
    assert rules.min_notional_applies_to_market is False


def test_notional_wins_over_legacy_min_notional() -> None:
    entry = _replace_filter(
        _symbol(), "MIN_NOTIONAL", {"filterType": "MIN_NOTIONAL", "minNotional": "99", "applyToMarket": True}
    )
    assert parse_symbol(entry).min_notional == Decimal("0.0001")


def test_missing_filters_mean_not_enforced() -> None:
    rules = parse_symbol(_symbol(filters=[]))
    assert rules.tick_size == rules.step_size == rules.min_notional == rules.max_notional == 0


def test_status_and_spot_permission_are_kept() -> None:
    rules = parse_symbol(_symbol(status="BREAK", isSpotTradingAllowed=False))
    assert rules.status == "BREAK"
    assert not rules.is_trading
    assert not rules.spot_allowed


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_symbol(symbol=""), "without a symbol"),
        ({k: v for k, v in _symbol().items() if k != "baseAsset"}, "ETHBTC: missing or malformed field 'baseAsset'"),
        (
            _replace_filter(_symbol(), "LOT_SIZE", {"filterType": "LOT_SIZE", "stepSize": "abc"}),
            "ETHBTC: not a decimal",
        ),
    ],
)
def test_malformed_symbol_entries_are_named(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(BinanceFormatError, match=message):
        parse_symbol(entry)


def test_exchange_info_skips_malformed_entries_and_reports_them() -> None:
    payload = {
        "timezone": "UTC",
        "serverTime": 1565246363776,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": [_symbol(), _symbol(symbol="BNBBTC", baseAsset="BNB"), {"symbol": "BAD", "status": "TRADING"}],
    }
    rules, problems = parse_exchange_info(payload)
    assert set(rules) == {"ETHBTC", "BNBBTC"}
    assert set(problems) == {"BAD"}


def test_exchange_info_without_symbols_is_refused() -> None:
    with pytest.raises(BinanceFormatError, match="symbols"):
        parse_exchange_info({"timezone": "UTC"})


def test_ticker_24hr_payload() -> None:
    item = {
        "symbol": "BNBBTC",
        "priceChange": "-94.99999800",
        "priceChangePercent": "-95.960",
        "weightedAvgPrice": "0.29628482",
        "prevClosePrice": "0.10002000",
        "lastPrice": "4.00000200",
        "lastQty": "200.00000000",
        "bidPrice": "4.00000000",
        "bidQty": "100.00000000",
        "askPrice": "4.00000200",
        "askQty": "100.00000000",
        "openPrice": "99.00000000",
        "highPrice": "100.00000000",
        "lowPrice": "0.10000000",
        "volume": "8913.30000000",
        "quoteVolume": "15.30000000",
        "openTime": 1499783499040,
        "closeTime": 1499869899040,
        "firstId": 28385,
        "lastId": 28460,
        "count": 76,
    }
    ticker = parse_tickers([item])["BNBBTC"]
    assert ticker.last_price == Decimal("4.000002")
    assert ticker.open_price == Decimal(99)
    assert ticker.quote_volume == Decimal("15.3")
    assert ticker.price_change_pct == Decimal("-95.96")
    assert ticker.trade_count == 76
    assert ticker.close_time == datetime(2017, 7, 12, 14, 31, 39, 40000, tzinfo=UTC)


def test_ticker_missing_a_field_is_refused() -> None:
    with pytest.raises(BinanceFormatError, match="LTCBTC"):
        parse_tickers([{"symbol": "LTCBTC", "lastPrice": "1"}])


def test_book_ticker_payload_is_stamped_with_the_receive_time() -> None:
    received = datetime(2026, 1, 1, tzinfo=UTC)
    tops = parse_book_tickers(
        [
            {
                "symbol": "LTCBTC",
                "bidPrice": "4.00000000",
                "bidQty": "431.00000000",
                "askPrice": "4.00000200",
                "askQty": "9.00000000",
            }
        ],
        received,
    )
    top = tops["LTCBTC"]
    assert (top.bid_price, top.ask_price, top.ask_qty, top.time) == (
        Decimal(4),
        Decimal("4.000002"),
        Decimal(9),
        received,
    )


def test_klines_payload() -> None:
    rows = [
        [
            1499040000000,
            "0.01634790",
            "0.80000000",
            "0.01575800",
            "0.01577100",
            "148976.11427815",
            1499644799999,
            "2434.19055334",
            308,
            "1756.87402397",
            "28.46694368",
            "0",
        ],
    ]
    bar = parse_klines("LTCBTC", "1d", rows)[0]
    assert bar.open_time == datetime(2017, 7, 3, tzinfo=UTC)
    assert (bar.open, bar.high, bar.low, bar.close) == (
        Decimal("0.0163479"),
        Decimal("0.8"),
        Decimal("0.015758"),
        Decimal("0.015771"),
    )
    assert bar.quote_volume == Decimal("2434.19055334")
    assert bar.trade_count == 308


def test_short_kline_row_is_refused() -> None:
    with pytest.raises(BinanceFormatError, match="kline of LTCBTC"):
        parse_klines("LTCBTC", "1h", [[1499040000000, "1"]])


def test_depth_payload() -> None:
    book = parse_depth(
        "LTCBTC",
        {"lastUpdateId": 1027024, "bids": [["4.00000000", "431.00000000"]], "asks": [["4.00000200", "12.00000000"]]},
    )
    assert book.bids[0].price == Decimal(4)
    assert book.asks[0].qty == Decimal(12)
