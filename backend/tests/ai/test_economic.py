"""The economic gate: the out-of-sample folds traded through the backtest engine with and without
the model, net of the configured costs, judged fold by fold."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import ai_engine.economic as economic
from ai_engine.economic import FoldModel, economic_gate, judge
from ai_engine.features import interval_delta
from ai_engine.gates import Gate
from ai_engine.registry import ModelRegistry
from ai_engine.training import ActivationPolicy, TrainingRequest, train
from backend.market.sentiment import SimulatedSentiment
from backend.tests.ai.factories import fast_model_settings, random_walk_bars, sentiment_booster, write_replay_dir
from backend.tests.backtest.factories import BACKTEST_ENV
from config.settings import Settings


def _rows(*excess: float) -> list[dict[str, float]]:
    return [
        {"fold": k + 1, "model_net_return": e, "liquidity_only_net_return": 0.0, "excess": e}
        for k, e in enumerate(excess)
    ]


@pytest.mark.parametrize(
    ("excess", "passed"),
    [
        ((0.01, 0.02, 0.005), True),  # better in every fold
        ((0.01, -0.002, 0.004), True),  # better in most, and without the best fold
        ((0.20, -0.01, -0.01, -0.01), False),  # one lucky fold: positive in total, worse in three of four
        ((0.05, 0.001, -0.03), False),  # better in two of three, but not without the best fold
        ((0.0, 0.0), False),  # never traded differently: no evidence
        ((-0.01, -0.02), False),
    ],
)
def test_the_model_must_beat_liquidity_only_and_not_by_the_luck_of_one_fold(
    excess: tuple[float, ...], passed: bool
) -> None:
    gate = judge(_rows(*excess), fee_bps=10)
    assert gate.passed is passed
    assert gate.details["folds"] == _rows(*excess)
    assert "10 bps fees" in gate.reason


def test_a_run_trades_every_fold_and_records_the_per_fold_report(
    make_settings: Callable[..., Settings], registry: ModelRegistry, tmp_path: Path
) -> None:
    replay = write_replay_dir(tmp_path / "replay", random_walk_bars(n_symbols=2, n_bars=500, seed=11, momentum=0.3))
    settings = make_settings(
        model=fast_model_settings(QT_MODEL_ECONOMIC_GATE=1),
        liquidity={"QT_LIQUIDITY_MIN_LISTING_DAYS": 0},
    )
    outcome = train(
        TrainingRequest(source=f"replay:{replay}", days=15, activate=ActivationPolicy.AUTO), settings, registry
    )
    gates = (outcome.run.metrics or {})["gates"]
    economic = gates["gates"][-1]
    assert economic["name"] == "economic"
    folds = economic["details"]["folds"]
    assert [f["fold"] for f in folds] == [1, 2]
    assert all(f["model_orders"] > 0 for f in folds)  # the model's blend traded in each window
    for fold in folds:
        assert fold["excess"] == pytest.approx(fold["model_net_return"] - fold["liquidity_only_net_return"])
    assert economic["details"]["fee_bps"] == 10.0
    assert economic["passed"] is judge(folds, fee_bps=10).passed
    assert outcome.activated is gates["passed"]  # auto: only when every gate passed, this one included


def test_without_the_economic_gate_the_run_says_it_was_skipped(train_model: object) -> None:
    outcome = train_model()  # type: ignore[operator]
    gates = outcome.run.metrics["gates"]
    assert gates["skipped"] == {"economic": "QT_MODEL_ECONOMIC_GATE=0"}
    assert "economic" not in [g["name"] for g in gates["gates"]]


def test_the_costly_backtest_runs_only_for_a_model_that_passed_the_other_gates(
    make_settings: Callable[..., Settings], registry: ModelRegistry, tmp_path: Path
) -> None:
    from backend.tests.ai.test_gates import _calm_decline_then_walk

    replay = write_replay_dir(tmp_path / "replay", _calm_decline_then_walk())
    settings = make_settings(model=fast_model_settings(QT_MODEL_ECONOMIC_GATE=1))
    outcome = train(TrainingRequest(source=f"replay:{replay}", days=30), settings, registry)
    gates = (outcome.run.metrics or {})["gates"]
    assert "fold_classes" in gates["failed"]
    assert gates["skipped"]["economic"].startswith("not evaluated: the fold_classes")
    assert not outcome.activated


def test_a_one_symbol_universe_makes_the_economic_gate_not_applicable_and_blocks_auto(
    make_settings: Callable[..., Settings], registry: ModelRegistry, tmp_path: Path
) -> None:
    # with one symbol the blend holds it at weight 1 whatever the model says: the same portfolio as
    # liquidity-only, so no backtest is run and auto activation has no evidence to go on
    bars = random_walk_bars(n_symbols=1, n_bars=500, seed=11, momentum=0.3)
    replay = write_replay_dir(tmp_path / "replay", bars)
    settings = make_settings(model=fast_model_settings(QT_MODEL_ECONOMIC_GATE=1))
    outcome = train(
        TrainingRequest(source=f"replay:{replay / 'S000USDT.csv'}", days=15, activate=ActivationPolicy.AUTO),
        settings,
        registry,
    )
    gates = (outcome.run.metrics or {})["gates"]
    economic = next(g for g in gates["gates"] if g["name"] == "economic")
    assert economic["passed"] is False
    assert economic["reason"].startswith("not applicable: a one-symbol universe (S000USDT)")
    assert economic["details"] == {"applicable": False, "symbols": ["S000USDT"]}
    assert "folds" not in economic["details"]  # no backtest was run
    assert "economic" in gates["failed"]
    assert not outcome.activated
    forced = train(
        TrainingRequest(source=f"replay:{replay / 'S000USDT.csv'}", days=15, activate=ActivationPolicy.FORCE),
        settings,
        registry,
    )
    activation = (forced.run.metrics or {})["activation"]
    assert activation["forced"] is True
    assert "economic" in activation["failed_gates"]


def _at(moment: datetime) -> datetime:
    return moment


def _gate(make_settings: Callable[..., Settings], tmp_path: Path, **market: Any) -> Gate:
    """The gate over one fold: the last five days of 300 hours of three symbols, traded every 4 bars."""
    bars = random_walk_bars(n_symbols=3, n_bars=300, seed=11, momentum=0.3)
    folder = write_replay_dir(tmp_path / "replay", bars)
    fold = FoldModel(1, sentiment_booster(), bars.times[180].to_pydatetime(), bars.times[-1].to_pydatetime())
    sections: dict[str, dict[str, Any]] = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    settings = make_settings(**sections, market=market)
    return economic_gate([fold], bars, f"replay:{folder}", settings, horizon=4)


def test_the_economic_gate_scores_each_decision_with_the_sentiment_reading_of_that_moment_never_a_later_one(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live predictor is given the sentiment service's last reading: the gate's folds are scored
    with the reading the service would hold at each decision on the backtest clock (a review found
    the feature NaN there, so a model trained with sentiment was judged without it)."""
    seen: list[tuple[datetime, pd.Series | None, np.ndarray]] = []
    real = economic.latest_features_fast

    def spy(bars: Any, sentiment: pd.Series | None = None, **kwargs: Any) -> pd.DataFrame:
        frame = real(bars, sentiment, **kwargs)
        decision = (bars.times[-1] + interval_delta(bars.interval)).to_pydatetime()  # the newest bar's close
        seen.append((decision, sentiment, frame["sentiment"].to_numpy()))
        return frame

    monkeypatch.setattr(economic, "latest_features_fast", spy)
    gate = _gate(make_settings, tmp_path, QT_SENTIMENT_SOURCE="simulated", QT_SIM_SEED=5)
    assert gate.details["folds"][0]["model_orders"] > 0
    assert len(seen) > 24
    for decision, sentiment, column in seen:
        assert sentiment is not None
        assert sentiment.index.max() <= decision  # published at or before the decision
        expected = SimulatedSentiment(5, clock=functools.partial(_at, decision)).fetch().value / 100
        assert column == pytest.approx(expected, rel=1e-6)
    assert len({float(column[0]) for _, _, column in seen}) > 1  # a new reading each day


def test_the_economic_gate_trades_a_replay_with_the_configured_spread(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """QT_REPLAY_SPREAD_BPS is the replay source's synthetic spread in the backtests the CLI runs:
    the gate's folds are traded with it too, not with the source's default 5 bps."""
    tight = _gate(make_settings, tmp_path / "tight", QT_REPLAY_SPREAD_BPS=0)
    wide = _gate(make_settings, tmp_path / "wide", QT_REPLAY_SPREAD_BPS=200)
    for key in ("model_net_return", "liquidity_only_net_return"):
        assert wide.details["folds"][0][key] < tight.details["folds"][0][key] - 0.005, key
