"""Binance's spot REST answers in their documented JSON shapes (exchangeInfo, tickers, book tops, klines).

Used by the local Binance server (backend/tests/fakes/binance_server.py) and by benchmarks that
need the same payloads without a server.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from backend.market.source import to_ms
from backend.market.types import BookTop, Kline, SymbolRules, Ticker24h


def dec(value: Decimal) -> str:
    """Binance prints 8 decimals."""
    return f"{value:.8f}"


def symbol_json(rules: SymbolRules) -> dict[str, Any]:
    """One exchangeInfo symbol entry in Binance's documented shape."""
    return {
        "symbol": rules.symbol,
        "status": rules.status,
        "baseAsset": rules.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": rules.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": rules.spot_allowed,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": dec(rules.min_price),
                "maxPrice": dec(rules.max_price),
                "tickSize": dec(rules.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": dec(rules.min_qty),
                "maxQty": dec(rules.max_qty),
                "stepSize": dec(rules.step_size),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": dec(rules.market_min_qty),
                "maxQty": dec(rules.market_max_qty),
                "stepSize": dec(rules.market_step_size),
            },
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000},
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": str(rules.bid_multiplier_up),
                "bidMultiplierDown": str(rules.bid_multiplier_down),
                "askMultiplierUp": str(rules.ask_multiplier_up),
                "askMultiplierDown": str(rules.ask_multiplier_down),
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": dec(rules.min_notional),
                "applyMinToMarket": rules.min_notional_applies_to_market,
                "maxNotional": dec(rules.max_notional),
                "applyMaxToMarket": rules.max_notional_applies_to_market,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info_json(rules: list[SymbolRules], server_time_ms: int) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [symbol_json(r) for r in rules],
    }


def ticker_json(t: Ticker24h) -> dict[str, Any]:
    close_ms = to_ms(t.close_time)
    change = t.last_price - t.open_price
    weighted = t.quote_volume / t.volume if t.volume > 0 else t.last_price
    return {
        "symbol": t.symbol,
        "priceChange": dec(change),
        "priceChangePercent": f"{t.price_change_pct:.3f}",
        "weightedAvgPrice": dec(weighted),
        "prevClosePrice": dec(t.open_price),
        "lastPrice": dec(t.last_price),
        "lastQty": "0.00100000",
        "bidPrice": dec(t.last_price),
        "bidQty": "1.00000000",
        "askPrice": dec(t.last_price),
        "askQty": "1.00000000",
        "openPrice": dec(t.open_price),
        "highPrice": dec(t.high_price),
        "lowPrice": dec(t.low_price),
        "volume": dec(t.volume),
        "quoteVolume": dec(t.quote_volume),
        "openTime": close_ms - 86_400_000 + 1,
        "closeTime": close_ms,
        "firstId": 1,
        "lastId": t.trade_count,
        "count": t.trade_count,
    }


def book_ticker_json(b: BookTop) -> dict[str, Any]:
    return {
        "symbol": b.symbol,
        "bidPrice": dec(b.bid_price),
        "bidQty": dec(b.bid_qty),
        "askPrice": dec(b.ask_price),
        "askQty": dec(b.ask_qty),
    }


def kline_json(k: Kline) -> list[Any]:
    return [
        to_ms(k.open_time),
        dec(k.open),
        dec(k.high),
        dec(k.low),
        dec(k.close),
        dec(k.volume),
        to_ms(k.close_time),
        dec(k.quote_volume),
        k.trade_count,
        dec(k.volume / 2),
        dec(k.quote_volume / 2),
        "0",
    ]
