"""The klines table: idempotent upsert keyed by (source, symbol, interval, open_time), read-only plans, gaps."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from backend.market.sources.simulated import SimulatedMarket
from backend.market.store import KlineStore, find_gaps
from database.models.market import Kline as KlineRow
from database.session import make_engine, make_session_factory


@pytest.fixture
def store(database_url: str) -> KlineStore:
    engine = make_engine(database_url)
    yield KlineStore(make_session_factory(engine))
    engine.dispose()


def _count(store: KlineStore) -> int:
    with store._sessions() as session:
        return int(session.scalar(select(func.count()).select_from(KlineRow)) or 0)


def test_upsert_inserts_then_is_a_no_op(store: KlineStore, market: SimulatedMarket) -> None:
    bars = market.klines("BTCUSDT", "1h", limit=48)
    first = store.upsert("simulated", "BTCUSDT", "1h", bars)
    assert (len(first.new), len(first.changed), first.unchanged) == (48, 0, 0)
    again = store.upsert("simulated", "BTCUSDT", "1h", bars)
    assert (len(again.new), len(again.changed), again.unchanged) == (0, 0, 48)
    assert _count(store) == 48
    stored = store.stored("simulated", "BTCUSDT", "1h", bars[0].open_time, bars[-1].open_time)
    assert stored == bars  # exact decimals and UTC times survive the round trip


def test_changed_bars_are_updated_in_place(store: KlineStore, market: SimulatedMarket) -> None:
    bars = market.klines("ETHUSDT", "1h", limit=10)
    store.upsert("simulated", "ETHUSDT", "1h", bars)
    revised = [*bars[:-1], replace(bars[-1], close=bars[-1].close + Decimal("0.01"))]
    plan = store.upsert("simulated", "ETHUSDT", "1h", revised)
    assert (len(plan.new), len(plan.changed), plan.unchanged) == (0, 1, 9)
    assert (
        store.stored("simulated", "ETHUSDT", "1h", bars[-1].open_time, bars[-1].open_time)[0].close == revised[-1].close
    )
    assert _count(store) == 10


def test_the_key_includes_source_symbol_and_interval(store: KlineStore, market: SimulatedMarket) -> None:
    bars = market.klines("BTCUSDT", "1h", limit=5)
    store.upsert("simulated", "BTCUSDT", "1h", bars)
    assert len(store.upsert("binance", "BTCUSDT", "1h", bars).new) == 5
    renamed = [replace(b, symbol="BTCFDUSD") for b in bars]
    assert len(store.upsert("simulated", "BTCFDUSD", "1h", renamed).new) == 5
    assert _count(store) == 15


def test_duplicate_bars_in_one_batch_are_stored_once(store: KlineStore, market: SimulatedMarket) -> None:
    bars = market.klines("BTCUSDT", "1h", limit=3)
    plan = store.upsert("simulated", "BTCUSDT", "1h", [*bars, bars[0]])
    assert len(plan.new) == 3
    assert _count(store) == 3


def test_plan_reports_without_writing(store: KlineStore, market: SimulatedMarket) -> None:
    bars = market.klines("SOLUSDT", "1h", limit=20)
    store.upsert("simulated", "SOLUSDT", "1h", bars[:10])
    plan = store.plan("simulated", "SOLUSDT", "1h", bars)
    assert (len(plan.new), plan.unchanged) == (10, 10)
    assert _count(store) == 10


def test_gaps_are_found_with_their_missing_bar_counts(market: SimulatedMarket) -> None:
    bars = market.klines("BTCUSDT", "1h", limit=20)
    holed = bars[:5] + bars[8:15] + bars[16:]
    gaps = find_gaps(holed, "1h")
    assert [(g.after, g.missing_bars) for g in gaps] == [(bars[4].open_time, 3), (bars[14].open_time, 1)]
    assert find_gaps(bars, "1h") == []
    assert bars[1].open_time - bars[0].open_time == timedelta(hours=1)
