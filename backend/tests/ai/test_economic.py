"""The economic gate: the out-of-sample folds traded through the backtest engine with and without
the model, net of the configured costs, judged fold by fold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ai_engine.economic import judge
from ai_engine.registry import ModelRegistry
from ai_engine.training import ActivationPolicy, TrainingRequest, train
from backend.tests.ai.factories import fast_model_settings, random_walk_bars, write_replay_dir
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
