"""--model walk-forward governed as live retraining: the run's settings, the gates, the warnings, the grid."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import ai_engine.training as training
import backend.backtest.walkforward as walkforward
from ai_engine.gates import Gate
from backend.backtest.cli import main
from backend.backtest.clock import BacktestClock
from backend.backtest.data import open_replay
from backend.backtest.engine import BacktestConfig, run_backtest
from backend.tests.ai.factories import START, fast_model_settings, random_walk_bars, write_replay_dir
from backend.tests.backtest.factories import BACKTEST_ENV, set_backtest_env
from config.runtime import SettingsHolder
from config.settings import Settings

WALK = ["--model", "walk-forward", "--retrain-days", "1", "--quiet"]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A CLI run's environment: BACKTEST_ENV, and model settings that train in well under a second."""
    set_backtest_env(monkeypatch, tmp_path)
    for name, value in fast_model_settings().items():
        monkeypatch.setenv(name, str(value))
    return monkeypatch


def _market(folder: Path, interval: str = "1h", n_bars: int = 700) -> Path:
    """Three random walks whose models pass their gates (with momentum 0.3 some fail class_prior)."""
    return write_replay_dir(
        folder, random_walk_bars(n_symbols=3, n_bars=n_bars, seed=11, momentum=0.5, interval=interval)
    )


def _refusing_train(seen: list[Settings]) -> Callable[..., Any]:
    def train(_request: Any, settings: Settings, _registry: Any) -> Any:
        seen.append(settings)
        raise training.DataError("too little history (the test's)")

    return train


def test_walk_forward_trains_with_the_runs_fee_cash_and_interval_not_the_environments(
    cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The trainings' economic gate trades with the run's costs: a review found 10 bps and 10,000
    cash (the environment's) in the gates of a run with --fee-bps 50 --cash 1."""
    seen: list[Settings] = []
    cli_env.setattr(walkforward, "train", _refusing_train(seen))
    folder = _market(tmp_path / "m")
    args = ["--source", f"replay:{folder}", "--start", "2024-01-23", "--end", "2024-01-24T12:00", *WALK]
    assert main([*args, "--fee-bps", "50", "--cash", "5000", "--baselines", "none"]) == 0
    assert len(seen) == 2
    for settings in seen:
        assert settings.execution.paper_fee_bps == 50
        assert settings.execution.paper_starting_cash == 5000
        assert settings.market.kline_interval == settings.model.interval == "1h"


def test_a_walk_forward_run_whose_every_retraining_failed_says_so_in_its_warnings(
    cli_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It exited 0 with no warning while no model was ever used (a review, on 5m bars)."""
    cli_env.setattr(walkforward, "train", _refusing_train([]))
    folder, out = _market(tmp_path / "m"), tmp_path / "out"
    args = ["--source", f"replay:{folder}", "--start", "2024-01-23", "--end", "2024-01-24T12:00", *WALK]
    assert main([*args, "--baselines", "none", "--out", str(out)]) == 0
    content = json.loads((out / "metrics.json").read_text())
    assert [t["status"] for t in content["trainings"]] == ["failed", "failed"]
    lines = [w for w in content["warnings"] if w.startswith("walk-forward:")]
    assert lines == [
        "walk-forward: 2 of 2 retrainings gave no model to trade (2 failed); no model was ever used: the strategy"
        " traded the liquidity-only blend throughout; the first, at 2024-01-23T00:00:00+00:00: DataError: too little"
        " history (the test's) (every retraining is in metrics.json's trainings)"
    ]
    assert f"warning: {lines[0]}" in capsys.readouterr().err


def test_walk_forward_on_5m_bars_trades_the_models_it_trains(cli_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every retraining on 5m bars was refused ("trained on 5m bars but QT_MODEL_INTERVAL is 1h"):
    the run's model interval is its data's, as its market interval is."""
    cli_env.setenv("QT_MODEL_TRAIN_DAYS", "2")
    folder, out = _market(tmp_path / "m", interval="5m", n_bars=1200), tmp_path / "out"
    args = ["--source", f"replay:{folder}", "--start", "2024-01-04", "--end", "2024-01-05", *WALK]
    assert main([*args, "--liquidity-bars", "12", "--baselines", "liquidity_only", "--out", str(out)]) == 0
    content = json.loads((out / "metrics.json").read_text())
    assert [t["status"] for t in content["trainings"]] == ["used", "used"], content["trainings"]
    assert not [w for w in content["warnings"] if w.startswith("walk-forward")]
    assert content["interval"] == "5m"


def test_a_walk_forward_retraining_that_fails_a_gate_is_never_traded_and_the_previous_model_stays(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live, a challenger that fails a gate is rejected, never traded; walk-forward traded it."""
    real_train, real_gates = walkforward.train, training.statistical_gates
    calls: list[int] = []

    def failing_gates(report: Any) -> list[Gate]:
        return [Gate(g.name, False, "failed by the test") if g.name == "class_prior" else g for g in real_gates(report)]

    def train(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        with pytest.MonkeyPatch.context() as patch:
            if len(calls) == 2:  # the second retraining fails a gate
                patch.setattr(training, "statistical_gates", failing_gates)
            return real_train(*args, **kwargs)

    monkeypatch.setattr(walkforward, "train", train)
    folder = _market(tmp_path / "m")
    sections: dict[str, dict[str, Any]] = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    settings = make_settings(**sections, model=fast_model_settings())
    first = START + timedelta(days=22)
    clock = BacktestClock(first)
    data = open_replay(folder, clock)
    predictor = walkforward.WalkForwardPredictor(data, clock, SettingsHolder(settings), retrain_days=2)
    config = BacktestConfig(start=first, end=first + timedelta(days=4), liquidity_bars=12, baselines=())
    try:
        result = run_backtest(config, data, clock, predictor=predictor, settings=settings)
    finally:
        predictor.close()
    used, rejected, again = result.trainings
    assert [t["status"] for t in result.trainings] == ["used", "rejected", "used"]
    assert rejected["gates"]["passed"] is False
    assert rejected["gates"]["failed"] == ["class_prior"]
    assert {"name": "class_prior", "passed": False, "reason": "failed by the test"} in rejected["gates"]["results"]
    assert rejected["reason"] == "class_prior: failed by the test"
    assert used["gates"]["passed"] is True
    versions = [(s.time, s.model_version) for s in result.selections]
    middle = {v for t, v in versions if first + timedelta(days=2) <= t < first + timedelta(days=4)}
    assert middle == {used["version"]}  # the rejected model never traded: the one before it stayed
    assert rejected["version"] not in {v for _, v in versions}
    assert {v for t, v in versions if t >= first + timedelta(days=4)} == {again["version"]}
    assert predictor.warnings() == [
        "walk-forward: 1 of 3 retrainings gave no model to trade (1 rejected by a gate); the previous model (or"
        f" none, before the first) stayed in use; the first, at {rejected['time']}: class_prior: failed by the test"
        " (every retraining is in metrics.json's trainings)"
    ]


def test_walk_forward_retrains_on_a_fixed_grid_from_the_runs_start_not_from_each_retraining(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With refreshes every 5 hours and a retraining every day, counting each day from the refresh
    that retrained drifted an hour a day: the sixth retraining came at 125 h instead of 120 h."""
    monkeypatch.setattr(walkforward, "train", _refusing_train([]))
    folder = _market(tmp_path / "m")
    first = START + timedelta(days=22)
    clock = BacktestClock(first)
    data = open_replay(folder, clock)
    predictor = walkforward.WalkForwardPredictor(data, clock, SettingsHolder(make_settings()), retrain_days=1)
    config = BacktestConfig(start=first, end=first + timedelta(days=6), liquidity_bars=5, baselines=())
    try:
        result = run_backtest(config, data, clock, predictor=predictor, settings=make_settings())
    finally:
        predictor.close()
    hours = [(t["time"], t["status"]) for t in result.trainings]
    expected = [0, 25, 50, 75, 100, 120]  # the first refresh at or after each day's boundary
    assert hours == [((first + timedelta(hours=h)).isoformat(), "failed") for h in expected]


def test_the_python_api_reports_the_retrainings_that_gave_no_model_as_the_cli_does(
    cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The warning was added by the CLI only: a run through run_backtest (benchmarks, governance)
    listed the failed trainings but did not warn."""
    from backend.backtest.model import run_settings
    from config.settings import load_settings

    cli_env.setattr(walkforward, "train", _refusing_train([]))
    clock = BacktestClock(START)
    data = open_replay(_market(tmp_path / "m"), clock)
    config = BacktestConfig(start=START + timedelta(days=22), end=START + timedelta(days=23, hours=12), baselines=())
    settings = load_settings()
    predictor = walkforward.WalkForwardPredictor(data, clock, run_settings(settings, config, data), 1)
    try:
        result = run_backtest(config, data, clock, predictor=predictor, settings=settings)
    finally:
        predictor.close()
    assert [w for w in result.warnings if w.startswith("walk-forward: 2 of 2 retrainings gave no model")]
