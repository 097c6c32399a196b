"""Parsers from Binance's spot REST JSON (exchangeInfo, ticker/24hr, bookTicker, klines, depth) to market types.

Filters read: PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL (legacy) and NOTIONAL (which
wins when both are present), PERCENT_PRICE_BY_SIDE (or the legacy PERCENT_PRICE for both sides). A
bound Binance sends as zero means "not enforced" and stays zero; a zero MARKET_LOT_SIZE step means
"same as LOT_SIZE". A symbol whose entry is malformed is skipped and reported, so one odd listing
never hides the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from backend.market.source import from_ms
from backend.market.types import BookLevel, BookTop, Kline, OrderBook, SymbolRules, Ticker24h

log = logging.getLogger(__name__)

ZERO = Decimal(0)


class BinanceFormatError(ValueError):
    """A payload that does not follow Binance's documented shape."""


def _d(value: Any) -> Decimal:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise BinanceFormatError(f"not a decimal: {value!r}") from None


def parse_symbol(entry: Mapping[str, Any]) -> SymbolRules:
    """One exchangeInfo symbol entry -> SymbolRules (BinanceFormatError naming the problem)."""
    symbol = entry.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise BinanceFormatError("symbol entry without a symbol")
    try:
        filters = {f["filterType"]: f for f in entry.get("filters", [])}
        price = filters.get("PRICE_FILTER", {})
        lot = filters.get("LOT_SIZE", {})
        market_lot = filters.get("MARKET_LOT_SIZE", {})
        step = _d(lot.get("stepSize", "0"))
        market_step = _d(market_lot.get("stepSize", "0"))
        notional = filters.get("NOTIONAL")
        legacy = filters.get("MIN_NOTIONAL")
        if notional is not None:
            min_notional = _d(notional.get("minNotional", "0"))
            max_notional = _d(notional.get("maxNotional", "0"))
            min_to_market = bool(notional.get("applyMinToMarket", True))
            max_to_market = bool(notional.get("applyMaxToMarket", False))
        elif legacy is not None:
            min_notional = _d(legacy.get("minNotional", "0"))
            max_notional = ZERO
            min_to_market = bool(legacy.get("applyToMarket", True))
            max_to_market = False
        else:
            min_notional = max_notional = ZERO
            min_to_market, max_to_market = True, False
        by_side = filters.get("PERCENT_PRICE_BY_SIDE")
        both = filters.get("PERCENT_PRICE") or {}
        if by_side is not None:
            multipliers = [
                _d(by_side.get(k, "0"))
                for k in ("bidMultiplierUp", "bidMultiplierDown", "askMultiplierUp", "askMultiplierDown")
            ]
        else:
            up, down = _d(both.get("multiplierUp", "0")), _d(both.get("multiplierDown", "0"))
            multipliers = [up, down, up, down]
        return SymbolRules(
            symbol=symbol,
            status=str(entry["status"]),
            base_asset=str(entry["baseAsset"]),
            quote_asset=str(entry["quoteAsset"]),
            tick_size=_d(price.get("tickSize", "0")),
            min_price=_d(price.get("minPrice", "0")),
            max_price=_d(price.get("maxPrice", "0")),
            step_size=step,
            min_qty=_d(lot.get("minQty", "0")),
            max_qty=_d(lot.get("maxQty", "0")),
            market_step_size=market_step if market_step > 0 else step,
            market_min_qty=_d(market_lot.get("minQty", "0")),
            market_max_qty=_d(market_lot.get("maxQty", "0")),
            min_notional=min_notional,
            max_notional=max_notional,
            min_notional_applies_to_market=min_to_market,
            max_notional_applies_to_market=max_to_market,
            spot_allowed=bool(entry.get("isSpotTradingAllowed", True)),
            listed_at=None,
            bid_multiplier_up=multipliers[0],
            bid_multiplier_down=multipliers[1],
            ask_multiplier_up=multipliers[2],
            ask_multiplier_down=multipliers[3],
        )
    except BinanceFormatError as exc:
        raise BinanceFormatError(f"{symbol}: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise BinanceFormatError(f"{symbol}: missing or malformed field {exc}") from None


def parse_exchange_info(payload: Mapping[str, Any]) -> tuple[dict[str, SymbolRules], dict[str, str]]:
    """exchangeInfo -> (rules by symbol, problems by symbol for skipped entries)."""
    entries = payload.get("symbols")
    if not isinstance(entries, list):
        raise BinanceFormatError("exchangeInfo without a 'symbols' list")
    rules: dict[str, SymbolRules] = {}
    problems: dict[str, str] = {}
    for entry in entries:
        try:
            parsed = parse_symbol(entry)
        except BinanceFormatError as exc:
            name = entry.get("symbol") if isinstance(entry, Mapping) else None
            problems[str(name or f"#{len(problems)}")] = str(exc)
            continue
        rules[parsed.symbol] = parsed
    if problems:
        log.warning("exchangeInfo entries skipped", extra={"problems": problems})
    return rules, problems


def parse_ticker(item: Mapping[str, Any]) -> Ticker24h:
    try:
        return Ticker24h(
            symbol=str(item["symbol"]),
            last_price=_d(item["lastPrice"]),
            open_price=_d(item["openPrice"]),
            high_price=_d(item["highPrice"]),
            low_price=_d(item["lowPrice"]),
            volume=_d(item["volume"]),
            quote_volume=_d(item["quoteVolume"]),
            price_change_pct=_d(item["priceChangePercent"]),
            trade_count=int(item.get("count") or 0),
            close_time=from_ms(int(item["closeTime"])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BinanceFormatError(f"ticker {item.get('symbol')!r}: {exc}") from None


def parse_tickers(items: Iterable[Mapping[str, Any]]) -> dict[str, Ticker24h]:
    out = {}
    for item in items:
        ticker = parse_ticker(item)
        out[ticker.symbol] = ticker
    return out


def parse_book_tickers(items: Iterable[Mapping[str, Any]], received_at: datetime) -> dict[str, BookTop]:
    """bookTicker carries no time: the tops are stamped with the time they were received."""
    out = {}
    for item in items:
        try:
            top = BookTop(
                symbol=str(item["symbol"]),
                bid_price=_d(item["bidPrice"]),
                bid_qty=_d(item["bidQty"]),
                ask_price=_d(item["askPrice"]),
                ask_qty=_d(item["askQty"]),
                time=received_at,
            )
        except (KeyError, TypeError) as exc:
            raise BinanceFormatError(f"bookTicker {item.get('symbol')!r}: {exc}") from None
        out[top.symbol] = top
    return out


def parse_klines(symbol: str, interval: str, rows: Iterable[list[Any]]) -> list[Kline]:
    out = []
    for row in rows:
        try:
            out.append(
                Kline(
                    symbol=symbol,
                    interval=interval,
                    open_time=from_ms(int(row[0])),
                    close_time=from_ms(int(row[6])),
                    open=_d(row[1]),
                    high=_d(row[2]),
                    low=_d(row[3]),
                    close=_d(row[4]),
                    volume=_d(row[5]),
                    quote_volume=_d(row[7]),
                    trade_count=int(row[8]),
                )
            )
        except (IndexError, TypeError, ValueError) as exc:
            raise BinanceFormatError(f"kline of {symbol}: {exc}") from None
    return out


def parse_depth(symbol: str, payload: Mapping[str, Any], received_at: datetime | None = None) -> OrderBook:
    try:
        bids = tuple(BookLevel(_d(p), _d(q)) for p, q in payload["bids"])
        asks = tuple(BookLevel(_d(p), _d(q)) for p, q in payload["asks"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BinanceFormatError(f"depth of {symbol}: {exc}") from None
    return OrderBook(symbol=symbol, bids=bids, asks=asks, time=received_at or datetime.now(UTC))
