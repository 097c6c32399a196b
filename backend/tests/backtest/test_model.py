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
