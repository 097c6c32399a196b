"""Universe selection speed: 2,000 symbols (tickers, book tops, rules) and 300 model signals.

Times the whole pure pipeline a refresh runs between the market snapshot and the database:
filter chain, ranking, model blend with caps, analytics. The market is synthetic and seeded (a
log-normal volume spread, realistic spreads, a share of planted bad symbols), so runs compare.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ai_engine.signal import Action, Signal
from backend.liquidity.blend import BlendParams, blend
from backend.liquidity.selection import filter_and_rank, select
from backend.market.types import BookTop, MarketSnapshot, SymbolRules, Ticker24h
from config.settings import load_settings

SYMBOLS = 2_000
SIGNALS = 300
ROUNDS = 30
TARGET_MS = 50.0
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _market(rng: random.Random) -> MarketSnapshot:
    rules: dict[str, SymbolRules] = {}
    tickers: dict[str, Ticker24h] = {}
    tops: dict[str, BookTop] = {}
    for i in range(SYMBOLS):
        roll = rng.random()
        base = f"C{i:04d}"
        quote, status, listed_days = "USDT", "TRADING", rng.uniform(1, 2000)
        if roll < 0.03:
            base += "UP"
        elif roll < 0.06:
            quote = "BTC"
        elif roll < 0.08:
            status = "HALT"
        symbol = base + quote
        price = Decimal(f"{10 ** rng.uniform(-5, 4.5):.8f}") + Decimal("0.00000001")
        volume = Decimal(f"{10 ** rng.gauss(6.5, 1.2):.2f}")
        spread_bps = Decimal(f"{10 ** rng.uniform(-0.5, 2.2):.4f}")
        half = price * spread_bps / Decimal(20_000)
        rules[symbol] = SymbolRules(
            symbol=symbol,
            status=status,
            base_asset=base,
            quote_asset=quote,
            tick_size=Decimal("0.00000001"),
            min_price=Decimal(0),
            max_price=Decimal(0),
            step_size=Decimal("0.001"),
            min_qty=Decimal(0),
            max_qty=Decimal(0),
            market_step_size=Decimal("0.001"),
            market_min_qty=Decimal(0),
            market_max_qty=Decimal(0),
            min_notional=Decimal(5),
            max_notional=Decimal(0),
            listed_at=NOW - timedelta(days=listed_days),
        )
        tickers[symbol] = Ticker24h(symbol, price, price, price, price, volume / price, volume, Decimal(0), 100, NOW)
        tops[symbol] = BookTop(symbol, price - half, Decimal(1), price + half, Decimal(1), NOW)
    return MarketSnapshot(taken_at=NOW, source="bench", rules=rules, tickers=tickers, book_tops=tops)


def _signals(rng: random.Random, symbols: list[str]) -> dict[str, Signal]:
    out = {}
    for symbol in symbols[:SIGNALS]:
        p = [rng.random() for _ in range(3)]
        total = sum(p)
        probs = {a: v / total for a, v in zip((Action.SELL, Action.HOLD, Action.BUY), p, strict=True)}
        action = max(probs, key=lambda a: probs[a])
        out[symbol] = Signal(symbol, action, probs[action], probs, "bench")
    return out


def _time_ms(func: Any) -> tuple[float, float]:
    samples = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        func()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def run() -> list[dict[str, Any]]:
    rng = random.Random(20261125)  # noqa: S311 - a seeded synthetic market, not cryptography
    market = _market(rng)
    settings = load_settings(
        {
            "liquidity": {
                "QT_LIQUIDITY_UNIVERSE_MAX": str(SIGNALS),
                "QT_LIQUIDITY_SELECTION_MAX": "20",
                "QT_LIQUIDITY_MAX_WEIGHT": "0.1",
            }
        },
        env_file=False,
    )
    outcome, ranked = filter_and_rank(market, settings, now=NOW)
    signals = _signals(rng, [r.symbol for r in ranked])
    select(market, settings, now=NOW, signals=signals)  # warm-up
    params = BlendParams.from_settings(settings.liquidity)

    full_median, full_p95 = _time_ms(lambda: select(market, settings, now=NOW, signals=signals, model_version="b"))
    filter_median, _ = _time_ms(lambda: filter_and_rank(market, settings, now=NOW))
    blend_median, _ = _time_ms(lambda: blend(ranked, signals, params))
    selection = select(market, settings, now=NOW, signals=signals).selection
    return [
        {
            "name": f"liquidity selection, {SYMBOLS} tickers + {len(signals)} signals (median)",
            "value": round(full_median, 3),
            "unit": "ms",
            "target": f"<= {TARGET_MS:g} ms",
            "ok": full_median <= TARGET_MS,
        },
        {
            "name": "liquidity selection p95",
            "value": round(full_p95, 3),
            "unit": "ms",
            "target": f"<= {TARGET_MS:g} ms",
            "ok": full_p95 <= TARGET_MS,
        },
        {"name": "liquidity filter chain + ranking (median)", "value": round(filter_median, 3), "unit": "ms"},
        {"name": "liquidity blend + caps (median)", "value": round(blend_median, 3), "unit": "ms"},
        {
            "name": "liquidity eligible / selected symbols",
            "value": f"{len(outcome.eligible)} / {len(selection.picks)}",
            "unit": "symbols",
            "ok": sum(selection.weights.values()) == 1,
        },
    ]
