"""One selection end to end (pure): status, problems and the analytics payload."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from ai_engine.signal import Action
from backend.liquidity.analytics import data_age_seconds
from backend.liquidity.selection import select
from backend.tests.liquidity.factories import DEFAULT_MARKET, NOW, Sym, signal, snapshot
from config.settings import Settings, load_settings


def _settings(**liquidity: Any) -> Settings:
    return load_settings({"liquidity": liquidity}, env_file=False)


def test_liquidity_only_selection_and_its_analytics() -> None:
    market = snapshot(DEFAULT_MARKET, now=NOW - timedelta(seconds=30), source="simulated")
    selection = select(market, _settings(), now=NOW, model_note="no predictor: liquidity-only blend").selection
    a = selection.analytics
    assert selection.status == "ok"
    assert selection.symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT"]
    assert sum(selection.weights.values()) == 1
    assert (a["universe_size"], a["eligible_count"], a["ranked_count"], a["selected_count"]) == (12, 6, 6, 6)
    assert a["coverage"] == {
        "selected_of_eligible": 1.0,
        "selected_quote_volume_share": 1.0,
        "model_signals_of_ranked": None,
    }
    assert [step["filter"] for step in a["filters"]] == _settings().liquidity.filters
    assert a["excluded_by_filter"] == {
        "status": 1,
        "quote_asset": 1,
        "stablecoin_base": 1,
        "leveraged_token": 1,
        "max_spread": 1,
        "listing_age": 1,
    }
    assert a["actions"]["selected"] == {"BUY": 0, "HOLD": 0, "SELL": 0, "none": 6}
    assert set(a["bases"]) == {"BTC", "ETH", "SOL", "BNB", "XRP", "ADA"}
    assert a["top"][0]["symbol"] == "BTCUSDT"
    assert a["top"][0]["action"] is None
    assert a["blend"]["mode"] == "liquidity_only"
    assert a["blend"]["note"] == "no predictor: liquidity-only blend"
    assert a["provider"] == {
        "market_source": "simulated",
        "data_taken_at": (NOW - timedelta(seconds=30)).isoformat(),
        "data_age_seconds": 30.0,
        "model_version": None,
    }
    assert selection.exclusions["BTCUPUSDT"] == {
        "filter": "leveraged_token",
        "reason": "base BTCUP is a leveraged token (BTC UP)",
    }


def test_blended_selection_counts_actions_and_drops_confident_sells() -> None:
    signals = {
        "BTCUSDT": signal("BTCUSDT", Action.SELL, 0.8),
        "ETHUSDT": signal("ETHUSDT", Action.BUY, 0.7),
        "SOLUSDT": signal("SOLUSDT", Action.HOLD, 0.6),
    }
    selection = select(snapshot(DEFAULT_MARKET), _settings(), now=NOW, signals=signals, model_version="v7").selection
    a = selection.analytics
    assert "BTCUSDT" not in selection.weights
    assert selection.symbols[0] == "ETHUSDT"
    assert a["blend"]["mode"] == "blended"
    assert a["blend"]["strong_sells_dropped"] == ["BTCUSDT"]
    assert a["actions"]["ranked"] == {"BUY": 1, "HOLD": 1, "SELL": 1, "none": 3}
    assert a["actions"]["selected"] == {"BUY": 1, "HOLD": 1, "SELL": 0, "none": 3}
    assert a["coverage"]["model_signals_of_ranked"] == 0.5
    assert a["provider"]["model_version"] == "v7"
    assert a["top"][0] == {
        "symbol": "ETHUSDT",
        "weight": float(selection.weights["ETHUSDT"]),
        "liquidity_score": a["top"][0]["liquidity_score"],
        "blended_score": a["top"][0]["blended_score"],
        "action": "BUY",
        "confidence": 0.7,
    }


def test_fewer_than_selection_min_is_degraded_and_says_why() -> None:
    selection = select(snapshot([Sym("BTC"), Sym("ETH")]), _settings(), now=NOW).selection
    assert selection.status == "degraded"
    assert selection.problems["selection"] == "only 2 symbols selectable, fewer than QT_LIQUIDITY_SELECTION_MIN=3"
    # two symbols cannot respect a 0.35 cap: equal weights, said out loud
    assert "QT_LIQUIDITY_MAX_WEIGHT=0.35" in selection.problems["weights"]
    assert sum(selection.weights.values()) == 1


def test_nothing_eligible_selects_nothing_and_says_so() -> None:
    selection = select(snapshot([Sym("USDC"), Sym("WAVES", status="HALT")]), _settings(), now=NOW).selection
    assert selection.picks == ()
    assert selection.status == "degraded"
    assert "no symbol passed the filters" in selection.problems["selection"]
    assert selection.analytics["coverage"]["selected_of_eligible"] is None


def test_universe_max_cuts_the_ranked_list_before_the_blend() -> None:
    market = [Sym(f"C{i:02d}", quote_volume=1e6 * (i + 1)) for i in range(30)]
    selection = select(
        snapshot(market), _settings(QT_LIQUIDITY_UNIVERSE_MAX="5", QT_LIQUIDITY_SELECTION_MAX="3"), now=NOW
    ).selection
    assert selection.analytics["ranked_count"] == 5
    assert selection.symbols == ["C29USDT", "C28USDT", "C27USDT"]


def test_data_age_is_the_age_of_the_stalest_price_data() -> None:
    market = snapshot([Sym("BTC"), Sym("ETH")], now=NOW - timedelta(seconds=10))
    stale_books = {s: dataclasses.replace(b, time=NOW - timedelta(seconds=95)) for s, b in market.book_tops.items()}
    market = dataclasses.replace(market, book_tops=stale_books, taken_at=NOW)
    assert data_age_seconds(market, NOW) == 95.0
    empty = dataclasses.replace(market, tickers={}, book_tops={}, taken_at=NOW - timedelta(seconds=3))
    assert data_age_seconds(empty, NOW) == 3.0
