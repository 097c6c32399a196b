"""Market data benchmarks: a 2,000-symbol MarketSnapshot from Binance-shaped JSON, and a year of bars.

- snapshot: exchangeInfo, ticker/24hr and ticker/bookTicker bodies for 2,000 symbols (the shapes the
  local Binance server answers with) are decoded and parsed into a MarketSnapshot; target <= 100 ms.
- history: one year of hourly bars for the 40 regular simulated symbols from a fresh SimulatedMarket
  (nothing cached); target <= 1 s.
Each figure is the median of several runs.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from backend.market.binance_format import parse_book_tickers, parse_exchange_info, parse_tickers
from backend.market.sources.simulated import REGULAR_SYMBOLS, SimulatedMarket
from backend.market.types import MarketSnapshot
from backend.tests.fakes.binance_shapes import book_ticker_json, exchange_info_json, ticker_json

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SYMBOLS = 2000


def _median_ms(func: Callable[[], Any], runs: int) -> float:
    func()  # warm-up (imports, first allocations)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        func()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def _binance_bodies() -> tuple[bytes, bytes, bytes]:
    market = SimulatedMarket(seed=1, clock=lambda: NOW)
    rules, tickers, tops = market.symbol_rules(), market.tickers_24h(), market.book_tops()
    names = list(rules)
    out_rules, out_tickers, out_tops = [], [], []
    for i in range(SYMBOLS):
        source = names[i % len(names)]
        name = f"{rules[source].base_asset}{i}{rules[source].quote_asset}"
        out_rules.append(replace(rules[source], symbol=name))
        out_tickers.append(ticker_json(replace(tickers[source], symbol=name)))
        out_tops.append(book_ticker_json(replace(tops[source], symbol=name)))
    info = exchange_info_json(out_rules, int(NOW.timestamp() * 1000))
    return json.dumps(info).encode(), json.dumps(out_tickers).encode(), json.dumps(out_tops).encode()


def run() -> list[dict[str, Any]]:
    info, tickers, tops = _binance_bodies()

    def snapshot() -> MarketSnapshot:
        rules, _problems = parse_exchange_info(json.loads(info))
        snap = MarketSnapshot(
            taken_at=NOW,
            source="binance",
            rules=rules,
            tickers=parse_tickers(json.loads(tickers)),
            book_tops=parse_book_tickers(json.loads(tops), NOW),
        )
        if len(snap.rules) != SYMBOLS or len(snap.tickers) != SYMBOLS:
            raise AssertionError("snapshot incomplete")
        return snap

    decoded = (json.loads(info), json.loads(tickers), json.loads(tops))

    def parse_only() -> None:
        parse_exchange_info(decoded[0])
        parse_tickers(decoded[1])
        parse_book_tickers(decoded[2], NOW)

    def year_of_bars() -> None:
        market = SimulatedMarket(seed=3, clock=lambda: NOW)  # fresh: nothing cached
        bars = market.history_arrays("1h", NOW - timedelta(days=365), NOW, [s.symbol for s in REGULAR_SYMBOLS])
        if bars.close.shape[0] != 40 or bars.close.shape[1] < 8759:
            raise AssertionError(f"unexpected shape {bars.close.shape}")

    def kline_objects() -> None:
        SimulatedMarket(seed=3, clock=lambda: NOW).klines("BTCUSDT", "1h", limit=1000)

    parse_ms = _median_ms(parse_only, 7)
    snap_ms = _median_ms(snapshot, 7)
    year_ms = _median_ms(year_of_bars, 3)
    size_kb = (len(info) + len(tickers) + len(tops)) / 1024
    return [
        {
            "name": f"MarketSnapshot of {SYMBOLS} symbols from decoded Binance JSON (rules, tickers, book tops)",
            "value": round(parse_ms, 2),
            "unit": "ms",
            "target": "<= 100 ms",
            "ok": parse_ms <= 100,
        },
        {
            "name": f"  the same including json.loads of the {size_kb:,.0f} KiB of response bodies",
            "value": round(snap_ms, 2),
            "unit": "ms",
            "target": "<= 100 ms",
            "ok": snap_ms <= 100,
        },
        {
            "name": "simulated history: 1 year of 1h bars x 40 symbols (numpy arrays, fresh market)",
            "value": round(year_ms, 1),
            "unit": "ms",
            "target": "<= 1000 ms",
            "ok": year_ms <= 1000,
        },
        {
            "name": "simulated klines(): 1000 Decimal Kline objects of one symbol (fresh market)",
            "value": round(_median_ms(kline_objects, 3), 1),
            "unit": "ms",
        },
    ]
