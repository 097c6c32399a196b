"""--model VERSION: the strategy is blended with a recorded model; the baselines are not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ai_engine.registry import ModelRegistry
from ai_engine.training import ActivationPolicy, TrainingRequest, train
from backend.backtest.clock import BacktestClock
from backend.backtest.data import BacktestInputError, open_replay
from backend.backtest.engine import BacktestConfig, run_backtest
from backend.backtest.model import pinned_predictor
from backend.tests.ai.factories import START, fast_model_settings, random_walk_bars, write_replay_dir
from backend.tests.backtest.factories import BACKTEST_ENV
from config.runtime import SettingsHolder
from config.settings import Settings
from database.session import make_engine, make_session_factory


def test_a_recorded_model_drives_the_strategy_and_not_the_baselines(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    folder = write_replay_dir(tmp_path / "bars", random_walk_bars(n_symbols=3, n_bars=700, seed=11, momentum=0.3))
    sections: dict[str, dict[str, Any]] = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    sections["model"] = fast_model_settings()
    settings = make_settings(**sections)
    engine = make_engine(settings.database.effective_url)
    try:
        registry = ModelRegistry(settings.model.artifacts_dir, make_session_factory(engine))
        outcome = train(TrainingRequest(source=f"replay:{folder}", activate=ActivationPolicy.NEVER), settings, registry)
        version = outcome.run.version
        first = START + timedelta(days=25)
        clock = BacktestClock(first)
        predictor = pinned_predictor(registry, version, SettingsHolder(settings), clock)
        config = BacktestConfig(start=first, end=first + timedelta(hours=23), baselines=("liquidity_only",))
        result = run_backtest(config, open_replay(folder, clock), clock, predictor=predictor, settings=settings)
        with pytest.raises(BacktestInputError, match="no completed training run"):
            pinned_predictor(registry, "no-such-version", SettingsHolder(settings), clock)
    finally:
        engine.dispose()
    assert result.model == version
    assert result.selections
    assert {s.mode for s in result.selections} == {"blended"}
    assert {s.model_version for s in result.selections} == {version}
    assert set(result.net_returns()) == {"strategy", "liquidity_only"}


def test_walk_forward_retrains_on_bars_before_each_segment(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from backend.backtest.walkforward import WalkForwardPredictor

    folder = write_replay_dir(tmp_path / "bars", random_walk_bars(n_symbols=3, n_bars=700, seed=11, momentum=0.3))
    sections: dict[str, dict[str, Any]] = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    sections["model"] = fast_model_settings()
    settings = make_settings(**sections)
    first = START + timedelta(days=22)
    clock = BacktestClock(first)
    data = open_replay(folder, clock)
    predictor = WalkForwardPredictor(data, clock, SettingsHolder(settings), retrain_days=2)
    config = BacktestConfig(start=first, end=first + timedelta(days=4), liquidity_bars=12, baselines=())
    try:
        result = run_backtest(config, data, clock, predictor=predictor, settings=settings)
    finally:
        predictor.close()
    assert result.model == "walk-forward"
    trained = [t for t in predictor.trainings if "version" in t]
    assert len(trained) == 3, predictor.trainings  # at day 0, 2 and 4 of the run
    assert len({t["version"] for t in trained}) == 3
    # each model was trained on bars that had closed before its segment began
    folders = list(predictor.folder.glob("bars-*"))
    assert len(folders) == 3
    for path in folders:
        cut = int(path.name.removeprefix("bars-"))
        for csv_file in path.glob("*.csv"):
            last_open = int(csv_file.read_text().strip().splitlines()[-1].split(",")[0])
            assert last_open + 3_600_000 <= cut
    assert {s.mode for s in result.selections} == {"blended"}
