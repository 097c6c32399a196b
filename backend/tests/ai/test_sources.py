"""Training data from the binance source (a local server speaking Binance's protocol) and from the
klines table the data pipeline fills."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ai_engine.dataset import DataError
from ai_engine.registry import ModelRegistry
from ai_engine.sources import default_symbols, load_training_bars
from ai_engine.training import ActivationPolicy, TrainingRequest, train
from backend.market.sources.simulated import SimulatedMarket
from backend.market.store import KlineStore
from backend.tests.ai.factories import fast_model_settings, klines_of, random_walk_bars
from backend.tests.fakes.binance_server import running_fake_binance
from config.settings import Settings
from database.session import make_engine, make_session_factory

NOW = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
SettingsFactory = Callable[..., Settings]


def test_binance_history_is_paged_and_matches_the_market(make_settings: SettingsFactory) -> None:
    market = SimulatedMarket(seed=7, clock=lambda: NOW)
    with running_fake_binance(market) as server:
        settings = make_settings(market={"QT_BINANCE_API_URL": server.url})
        bars, description = load_training_bars(
            "binance", settings, symbols=["BTCUSDT", "ETHUSDT"], interval="1h", days=50, end=NOW, extra_bars=104
        )
        kline_calls = [r for r in server.requests if r.path == "/api/v3/klines"]
    assert description["source"] == "binance"
    assert bars.symbols == ("BTCUSDT", "ETHUSDT")
    # 05:00 on 2 Oct (the first open after now - 50 days - 104 h) to 11:00 today (the last closed bar):
    # more than one page of 1000 per symbol
    assert len(bars.times) == 50 * 24 + 104 - 1
    assert len(kline_calls) == 4
    expected = market.history_arrays("1h", bars.times[0].to_pydatetime(), NOW, ["BTCUSDT", "ETHUSDT"])
    np.testing.assert_allclose(bars.close, expected.close.T, rtol=1e-5)  # prices rounded to the tick


def test_a_run_on_binance_picks_the_most_traded_symbols(
    make_settings: SettingsFactory, registry: ModelRegistry
) -> None:
    market = SimulatedMarket(seed=7, clock=lambda: NOW)
    with running_fake_binance(market) as server:
        settings = make_settings(
            market={"QT_BINANCE_API_URL": server.url},
            model=fast_model_settings(QT_MODEL_TRAIN_DAYS=8),
        )
        outcome = train(TrainingRequest(source="binance", activate=ActivationPolicy.NEVER), settings, registry, now=NOW)
        expected = default_symbols(market.symbol_rules(), market.tickers_24h(), "USDT", 20)
    assert outcome.run.status == "completed"
    assert outcome.metadata["data"]["symbols"] == sorted(expected)
    assert "USDCUSDT" not in expected
    assert "BTCUPUSDT" not in expected
    assert len(expected) == 20


def test_an_unreachable_binance_is_a_data_problem(make_settings: SettingsFactory) -> None:
    settings = make_settings(market={"QT_BINANCE_API_URL": "http://127.0.0.1:9", "QT_BINANCE_TIMEOUT_SECONDS": 2})
    with pytest.raises(DataError, match="binance: could not list symbols"):
        load_training_bars("binance", settings, symbols=[], interval="1h", days=5, end=NOW, extra_bars=104)


def test_the_database_source_reads_what_the_pipeline_stored(
    make_settings: SettingsFactory, registry: ModelRegistry
) -> None:
    settings = make_settings(model=fast_model_settings(QT_MODEL_TRAIN_DAYS=15))
    bars = random_walk_bars(n_symbols=2, n_bars=600, seed=8, momentum=0.2)
    engine = make_engine(settings.database.effective_url)
    try:
        store = KlineStore(make_session_factory(engine), clock=lambda: NOW)
        for symbol, klines in klines_of(bars).items():
            store.upsert("simulated", symbol, "1h", klines)
            store.upsert("binance", symbol, "1h", klines[:10])  # another source's rows are not read
    finally:
        engine.dispose()
    end = bars.times[-1].to_pydatetime()
    loaded, description = load_training_bars(
        "database", settings, symbols=list(bars.symbols), interval="1h", days=15, end=end, extra_bars=104
    )
    assert description == {"source": "database", "stored_source": "simulated"}
    assert len(loaded.times) == 15 * 24 + 104 + 1
    np.testing.assert_allclose(loaded.close, bars.close[-len(loaded.times) :], rtol=1e-7)
    outcome = train(TrainingRequest(source="database", activate=ActivationPolicy.NEVER), settings, registry, now=end)
    assert outcome.run.status == "completed"
    assert outcome.metadata["data"]["symbols"] == list(bars.symbols)


def test_an_empty_klines_table_tells_the_operator_to_run_the_pipeline(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    with pytest.raises(DataError, match="run the data pipeline first"):
        load_training_bars(
            "database", settings, symbols=["BTCUSDT"], interval="1h", days=5, end=NOW - timedelta(days=1), extra_bars=1
        )
