"""The bar interval is enforced: at training (spacing of the data), at activation (the model's
interval against QT_MODEL_INTERVAL) and at prediction (klines of another interval: mismatch,
/health degraded, liquidity-only blend that says why)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ai_engine.dataset import DataError, build_dataset
from ai_engine.predictor import IntervalMismatchError, Predictor
from ai_engine.registry import ActivationError, ModelRegistry
from ai_engine.training import ActivationPolicy, TrainingRequest, train
from backend.tests.ai.factories import fast_model_settings, klines_of, random_walk_bars, write_replay_dir
from backend.tests.conftest import ADMIN_HEADERS
from config.runtime import SettingsHolder
from config.settings import Settings

ClientFor = Callable[[Settings], Any]
SettingsFactory = Callable[..., Settings]


@pytest.fixture(scope="module")
def five_minute_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bars = random_walk_bars(n_symbols=2, n_bars=3000, seed=5, interval="5m", momentum=0.3, vol=0.004)
    return write_replay_dir(tmp_path_factory.mktemp("five"), bars)


def test_five_minute_files_are_refused_as_a_1h_model(
    ai_settings: Settings, registry: ModelRegistry, five_minute_dir: Path
) -> None:
    # The review's case: 5-minute files trained silently as "1h" (a 4-bar horizon was 20 minutes).
    with pytest.raises(DataError, match=r"bars are 5m apart, not 1h: train with --interval 5m"):
        train(TrainingRequest(source=f"replay:{five_minute_dir}", interval="1h"), ai_settings, registry)
    run = registry.latest_run()
    assert run is not None
    assert run.status == "failed"
    assert "5m apart" in (run.error or "")


def test_hourly_bars_are_refused_as_a_5m_model() -> None:
    bars = random_walk_bars(n_symbols=1, n_bars=400, interval="1h")
    relabelled = type(bars)("5m", bars.times, bars.symbols, bars.open, bars.high, bars.low, bars.close, bars.volume)
    with pytest.raises(DataError, match="bars are 1h apart, not 5m"):
        build_dataset(relabelled, horizon=4, threshold=0.004)


def test_gaps_of_whole_intervals_are_allowed_but_odd_steps_are_not() -> None:
    bars = random_walk_bars(n_symbols=1, n_bars=400, interval="1h")
    keep = [i for i in range(400) if i not in (200, 201, 300)]  # two gaps
    gapped = type(bars)(
        "1h",
        bars.times[keep],
        bars.symbols,
        *(getattr(bars, n)[keep] for n in ("open", "high", "low", "close", "volume")),
    )
    assert len(build_dataset(gapped, horizon=4, threshold=0.004)) > 0
    shifted = bars.times.to_series().reset_index(drop=True)
    shifted[250:] = shifted[250:] + pd.Timedelta(minutes=30)
    times = pd.DatetimeIndex(shifted)
    odd = type(bars)("1h", times, bars.symbols, bars.open, bars.high, bars.low, bars.close, bars.volume)
    with pytest.raises(DataError, match="not 1h"):
        build_dataset(odd, horizon=4, threshold=0.004)


def test_a_single_replay_file_is_a_source(ai_settings: Settings, registry: ModelRegistry, replay_dir: Path) -> None:
    path = replay_dir / "S001USDT.csv"
    outcome = train(TrainingRequest(source=f"replay:{path}", activate=ActivationPolicy.NEVER), ai_settings, registry)
    assert outcome.run.status == "completed"
    assert outcome.metadata["data"]["symbols"] == ["S001USDT"]
    assert outcome.metadata["data"]["files"] == ["S001USDT.csv"]


def test_a_model_of_another_interval_is_trained_but_never_activated(
    ai_settings: Settings, registry: ModelRegistry, five_minute_dir: Path
) -> None:
    assert ai_settings.model.interval == "1h"
    outcome = train(
        TrainingRequest(source=f"replay:{five_minute_dir}", interval="5m", days=8, activate=ActivationPolicy.FORCE),
        ai_settings,
        registry,
    )
    assert outcome.run.status == "completed"
    assert not outcome.activated
    assert "trained on 5m bars but the service scores 1h" in outcome.activation_reason
    assert (outcome.run.metrics or {})["activation"]["activated"] is False
    assert registry.active_run() is None
    with pytest.raises(ActivationError, match="trained on 5m bars but QT_MODEL_INTERVAL is 1h"):
        registry.activate(outcome.run.version)


def test_a_loaded_model_of_another_interval_than_configured_is_a_mismatch(
    train_model: Any, registry: ModelRegistry, make_settings: SettingsFactory
) -> None:
    train_model()  # 1h, active
    five = make_settings(model=fast_model_settings(QT_MODEL_INTERVAL="5m"))
    predictor = Predictor(registry, SettingsHolder(five))
    state = predictor.reload()
    assert state.status == "mismatch"
    assert "trained on 1h bars but QT_MODEL_INTERVAL is 5m" in (state.reason or "")
    assert predictor.active_version is None
    assert predictor.health_reasons() == [state.reason]
    assert predictor.predict(klines_of(random_walk_bars(n_symbols=2, n_bars=150))) == {}


def test_klines_of_another_interval_are_a_reported_mismatch_not_silently_dropped(
    train_model: Any, registry: ModelRegistry, ai_settings: Settings
) -> None:
    train_model()
    predictor = Predictor(registry, SettingsHolder(ai_settings))
    predictor.reload()
    hourly = klines_of(random_walk_bars(n_symbols=2, n_bars=150))
    assert len(predictor.predict(hourly)) == 2
    five = klines_of(random_walk_bars(n_symbols=2, n_bars=150, interval="5m"))
    with pytest.raises(IntervalMismatchError, match=r"klines are 5m bars but model .* was trained on 1h"):
        predictor.predict(five)
    state = predictor.state()
    assert state.status == "mismatch"
    assert predictor.active_version is None
    assert predictor.describe()["status"] == "mismatch"
    assert predictor.health_reasons() == [state.reason]


def test_the_blend_falls_back_to_liquidity_only_and_health_says_why(
    client_for: ClientFor, make_settings: SettingsFactory, train_model: Any
) -> None:
    # The review's case: a 1h model active while the service scores 5m bars (QT_MODEL_INTERVAL=5m):
    # the predictor dropped every kline and the blend ran "blended" with a neutral 0.5 everywhere.
    train_model()
    settings = make_settings(model=fast_model_settings(QT_MODEL_INTERVAL="5m"))
    client = client_for(settings)
    health = client.get("/health").json()
    assert health["status"] == "degraded"
    assert health["model"]["status"] == "mismatch"
    assert "model: model " in " ".join(health["reasons"])
    assert client.get("/ai/model-info").json()["status"] == "mismatch"
    run = client.post("/liquidity/refresh", headers=ADMIN_HEADERS).json()["run"]
    assert run["blend_mode"] == "liquidity_only"
    note = run["analytics"]["blend"]["note"]
    assert note.startswith("model not usable (model ")
    assert "trained on 1h bars but QT_MODEL_INTERVAL is 5m" in note
    assert note.endswith("liquidity-only blend")
