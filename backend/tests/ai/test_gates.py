"""Activation gates: the gaming cases of the review must not activate in auto mode, and a forced
model says so in /ai/runs, /ai/model-info and /health."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ai_engine.booster import BoosterParams
from ai_engine.dataset import DataError, build_dataset
from ai_engine.evaluation import DIRECTIONAL_COLUMNS, walk_forward
from ai_engine.features import DIRECTION_BLIND_FEATURES, FEATURE_NAMES, Bars
from ai_engine.gates import gate_report, statistical_gates
from ai_engine.registry import ModelRegistry
from ai_engine.training import ActivationPolicy, TrainingRequest, activation_decision, train
from backend.tests.ai.factories import random_walk_bars, write_replay_dir
from backend.tests.conftest import ADMIN_HEADERS
from config.settings import Settings

ClientFor = Callable[[Settings], Any]


def _calm_decline_then_walk(n_bars: int = 700, calm_bars: int = 330) -> Bars:
    """A steady, calm decline (4-bar moves around -0.4 %: SELL or HOLD, never BUY), then a momentum walk."""
    walk = random_walk_bars(n_symbols=3, n_bars=n_bars, seed=21, momentum=0.3)
    close = walk.close.copy()
    rng = np.random.default_rng(3)
    calm = np.exp(np.cumsum(-0.001 + rng.standard_normal((calm_bars, 3)) * 0.0008, axis=0))
    close[:calm_bars] = 100.0 * calm
    close[calm_bars:] = close[calm_bars:] / close[calm_bars] * close[calm_bars - 1]
    open_ = np.vstack([close[:1], close[:-1]])
    high, low = np.maximum(open_, close) * 1.0005, np.minimum(open_, close) * 0.9995
    return Bars("1h", walk.times, walk.symbols, open_, high, low, close, walk.volume)


def test_a_fold_whose_training_window_lacks_a_class_is_refused_with_the_reason() -> None:
    ds = build_dataset(_calm_decline_then_walk(), horizon=4, threshold=0.004)
    report = walk_forward(ds, BoosterParams(rounds=10, threads=1), n_folds=2, embargo=1, fee_bps=10)
    first, second = report.folds
    assert first["missing_classes"] == ["BUY"]
    assert "has no BUY rows" in first["refused"]
    assert "model" not in first  # not scored
    assert "refused" not in second
    assert report.oos["evaluated_folds"] == 1
    assert report.oos["model"]["rows"] == second["test_rows"]
    gates = gate_report(statistical_gates(report))
    assert "fold_classes" in gates["failed"]
    assert not activation_decision(ActivationPolicy.AUTO, gates).activated


def test_every_fold_refused_is_a_data_error() -> None:
    # the last bars still move both ways, so the dataset has every class; no training window does
    ds = build_dataset(_calm_decline_then_walk(n_bars=700, calm_bars=690), horizon=4, threshold=0.004, min_rows=10)
    with pytest.raises(DataError, match="every walk-forward fold was refused"):
        walk_forward(ds, BoosterParams(rounds=5, threads=1), n_folds=2, embargo=1, fee_bps=10)


def test_the_missing_class_model_is_not_activated_in_auto_mode(
    ai_settings: Settings, registry: ModelRegistry, tmp_path: Path
) -> None:
    replay = write_replay_dir(tmp_path / "replay", _calm_decline_then_walk())
    outcome = train(
        TrainingRequest(source=f"replay:{replay}", days=30, activate=ActivationPolicy.AUTO), ai_settings, registry
    )
    assert not outcome.activated
    assert registry.active_run() is None
    gates = (outcome.run.metrics or {})["gates"]
    assert "fold_classes" in gates["failed"]
    assert "fold 1 (no BUY)" in outcome.activation_reason


def _volatility_only(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.iloc[:, list(DIRECTIONAL_COLUMNS)] = np.nan
    return out


def test_the_direction_blind_baseline_sees_only_volatility_and_activity() -> None:
    assert {FEATURE_NAMES[i] for i in DIRECTIONAL_COLUMNS} == set(FEATURE_NAMES) - DIRECTION_BLIND_FEATURES
    assert {"ret_1", "rsi_14", "macd_hist", "body_1", "dist_high_24"} <= {FEATURE_NAMES[i] for i in DIRECTIONAL_COLUMNS}
    assert {"vol_12", "atr_14", "range_1", "volume_z_24"} <= DIRECTION_BLIND_FEATURES


def test_a_volatility_only_model_does_not_pass_the_direction_blind_gate() -> None:
    # The review's gaming case: a model that never picks a direction beat the class prior (1.0419
    # against 1.1261 on BTC) because volatility tells how likely HOLD is. It must not activate.
    bars = random_walk_bars(n_symbols=3, n_bars=600, seed=8, momentum=0.0, vol=0.01)
    ds = build_dataset(bars, horizon=4, threshold=0.004)
    gamed = type(ds)(**{**ds.__dict__, "features": _volatility_only(ds.features)})
    report = walk_forward(gamed, BoosterParams(rounds=15, threads=1), n_folds=2, embargo=1, fee_bps=10)
    assert report.model_log_loss == report.blind_log_loss  # the same booster on the same information
    gates = gate_report(statistical_gates(report))
    assert "direction_blind" in gates["failed"]
    decision = activation_decision(ActivationPolicy.AUTO, gates)
    assert not decision.activated
    assert "does not beat the direction-blind baseline" in decision.reason


def test_a_forced_model_records_its_failed_gates_and_says_so_everywhere(
    ai_settings: Settings, registry: ModelRegistry, tmp_path: Path, client_for: ClientFor
) -> None:
    replay = write_replay_dir(tmp_path / "replay", _calm_decline_then_walk())
    outcome = train(
        TrainingRequest(source=f"replay:{replay}", days=30, activate=ActivationPolicy.FORCE), ai_settings, registry
    )
    assert outcome.activated
    activation = (outcome.run.metrics or {})["activation"]
    assert activation["forced"] is True
    assert "fold_classes" in activation["failed_gates"]
    client = client_for(ai_settings)
    info = client.get("/ai/model-info").json()
    assert info["status"] == "active"
    assert info["forced"] is True
    assert "fold_classes" in info["failed_gates"]
    assert [g["name"] for g in info["gates"]["gates"]] == ["fold_classes", "class_prior", "direction_blind"]
    health = client.get("/health").json()
    assert health["model"]["forced"] is True
    assert "fold_classes" in health["model"]["failed_gates"]
    [item] = client.get("/ai/runs", headers=ADMIN_HEADERS).json()["items"]
    assert item["gates"]["passed"] is False
    assert item["activation"]["forced"] is True


def test_a_run_in_full_serves_its_gates_folds_and_feature_importance(
    ai_settings: Settings, registry: ModelRegistry, replay_dir: Path, client_for: ClientFor
) -> None:
    outcome = train(
        TrainingRequest(source=f"replay:{replay_dir}", activate=ActivationPolicy.NEVER), ai_settings, registry
    )
    client = client_for(ai_settings)
    assert client.get(f"/ai/runs/{outcome.run.id}").status_code == 401
    body = client.get(f"/ai/runs/{outcome.run.id}", headers=ADMIN_HEADERS).json()
    assert body["version"] == outcome.run.version
    assert len(body["folds"]) == 2
    assert body["oos"]["direction_blind"]["log_loss"] > 0
    importance = body["feature_importance"]
    assert importance
    assert set(importance) <= set(FEATURE_NAMES)
    assert list(importance.values()) == sorted(importance.values(), reverse=True)
    assert client.get("/ai/runs/999999", headers=ADMIN_HEADERS).status_code == 404
