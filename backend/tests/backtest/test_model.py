"""--model VERSION: the strategy is blended with a recorded model; the baselines are not."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ai_engine.registry import ModelRegistry
from ai_engine.training import ActivationPolicy, TrainingRequest, train
from backend.backtest.clock import BacktestClock
from backend.backtest.data import BacktestData, BacktestInputError, open_replay
from backend.backtest.engine import BacktestConfig, run_backtest
from backend.backtest.model import look_ahead_warnings, pinned_predictor
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
        # trained on all 700 bars, it has seen the day it trades; from the close of its last bar it has not
        last_close = START + timedelta(hours=700)
        assert look_ahead_warnings(predictor, last_close) == []
        assert look_ahead_warnings(predictor, last_close - timedelta(seconds=1)) != []
        with pytest.raises(BacktestInputError, match="no completed training run"):
            pinned_predictor(registry, "no-such-version", SettingsHolder(settings), clock)
    finally:
        engine.dispose()
    assert result.model == version
    assert result.warnings == [
        f"model {version} was trained on bars up to {last_close.isoformat()}, after the run's first decision at"
        f" {first.isoformat()}: it has seen the bars it trades (look-ahead); to test it out of sample, run from"
        " after its training data, or train a model on bars before --start"
    ]
    assert result.selections
    assert {s.mode for s in result.selections} == {"blended"}
    assert {s.model_version for s in result.selections} == {version}
    assert set(result.net_returns()) == {"strategy", "liquidity_only"}


def _at(moment: datetime) -> datetime:
    return moment


def test_a_recorded_model_is_scored_with_the_sentiment_reading_of_the_backtest_clock_never_a_later_one(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live Predictor is given the sentiment service's last reading; --model VERSION (and
    walk-forward) scored with the feature missing (a review), unlike the service with that model."""
    import ai_engine.predictor as predictor_module
    from backend.market.sentiment import SimulatedSentiment

    folder = write_replay_dir(tmp_path / "bars", random_walk_bars(n_symbols=3, n_bars=700, seed=11, momentum=0.3))
    sections: dict[str, dict[str, Any]] = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    sections["model"] = fast_model_settings()
    settings = make_settings(**sections, market={"QT_SENTIMENT_SOURCE": "simulated", "QT_SIM_SEED": 9})
    first = START + timedelta(days=25)
    clock = BacktestClock(first)
    seen: list[tuple[datetime, Any]] = []
    real = predictor_module.latest_feature_rows

    def spy(bars: Any, sentiment: Any = None, **kwargs: Any) -> Any:
        seen.append((clock(), sentiment))
        return real(bars, sentiment, **kwargs)

    monkeypatch.setattr(predictor_module, "latest_feature_rows", spy)
    engine = make_engine(settings.database.effective_url)
    try:
        registry = ModelRegistry(settings.model.artifacts_dir, make_session_factory(engine))
        outcome = train(TrainingRequest(source=f"replay:{folder}", activate=ActivationPolicy.NEVER), settings, registry)
        predictor = pinned_predictor(registry, outcome.run.version, SettingsHolder(settings), clock)
        config = BacktestConfig(start=first, end=first + timedelta(days=2), baselines=())
        run_backtest(config, open_replay(folder, clock), clock, predictor=predictor, settings=settings)
    finally:
        engine.dispose()
    assert len(seen) > 10
    for now, sentiment in seen:
        assert sentiment is not None
        assert list(sentiment.index) == [now.replace(hour=0, minute=0, second=0)]  # the day's reading, published
        assert float(sentiment.iloc[-1]) == SimulatedSentiment(9, clock=functools.partial(_at, now)).fetch().value / 100
    assert len({float(s.iloc[-1]) for _, s in seen}) == 3  # three days, three readings


def _walk_forward_market(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> tuple[Settings, datetime, BacktestClock, BacktestData]:
    """Three random-walk symbols, 700 hours; the run starts on day 22 (enough history to train). The
    momentum makes the models trained on them pass their gates (with 0.3 some fail class_prior)."""
    folder = write_replay_dir(tmp_path / "bars", random_walk_bars(n_symbols=3, n_bars=700, seed=11, momentum=0.5))
    sections: dict[str, dict[str, Any]] = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    sections["model"] = fast_model_settings()
    first = START + timedelta(days=22)
    clock = BacktestClock(first)
    return make_settings(**sections), first, clock, open_replay(folder, clock)


def test_walk_forward_retrains_on_bars_before_each_segment(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from backend.backtest.walkforward import WalkForwardPredictor

    settings, first, clock, data = _walk_forward_market(make_settings, tmp_path)
    predictor = WalkForwardPredictor(data, clock, SettingsHolder(settings), retrain_days=2)
    config = BacktestConfig(start=first, end=first + timedelta(days=4), liquidity_bars=12, baselines=())
    try:
        result = run_backtest(config, data, clock, predictor=predictor, settings=settings)
        # each model was trained on every bar that had closed before its segment began, none after
        folders = list(predictor.folder.glob("bars-*"))
        assert len(folders) == 3
        for path in folders:
            cut = int(path.name.removeprefix("bars-"))
            for csv_file in path.glob("*.csv"):
                opens = [int(line.split(",")[0]) for line in csv_file.read_text().strip().splitlines()[1:]]
                assert opens[0] == int(START.timestamp() * 1000)
                assert opens[-1] + 3_600_000 == cut
                assert len(opens) == (cut - opens[0]) // 3_600_000
    finally:
        predictor.close()
    assert not predictor.folder.exists()  # the segments' bars and models go with the run
    assert result.model == "walk-forward"
    trained = [t for t in predictor.trainings if t["status"] == "used"]
    assert len(trained) == 3, predictor.trainings  # at day 0, 2 and 4 of the run
    assert len({t["version"] for t in trained}) == 3
    assert result.trainings == predictor.trainings
    assert {s.mode for s in result.selections} == {"blended"}


def test_walk_forward_training_may_run_event_loops_of_its_own(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training's economic gate runs backtests, each in an event loop of its own. Called from inside
    the walk-forward run's loop that failed ("Cannot run the event loop while another loop is
    running") and the previous model stayed: 4 of a simulated year's 13 monthly retrainings."""
    import backend.backtest.walkforward as walkforward

    real_train = walkforward.train

    def train(*args: Any, **kwargs: Any) -> Any:
        asyncio.run(asyncio.sleep(0))  # what a backtest inside the economic gate does first
        return real_train(*args, **kwargs)

    monkeypatch.setattr(walkforward, "train", train)
    settings, first, clock, data = _walk_forward_market(make_settings, tmp_path)
    predictor = walkforward.WalkForwardPredictor(data, clock, SettingsHolder(settings), retrain_days=30)
    config = BacktestConfig(start=first, end=first + timedelta(hours=12), liquidity_bars=12, baselines=())
    try:
        result = run_backtest(config, data, clock, predictor=predictor, settings=settings)
    finally:
        predictor.close()
    assert [t["status"] for t in result.trainings] == ["used"], result.trainings
    assert "error" not in result.trainings[0]


def test_walk_forward_pages_through_a_source_that_answers_1000_bars_a_request(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """The simulated market (like Binance) answers at most 1,000 klines a request: a segment's
    training bars are every bar since the first, not the first 1,000 again and again (a review
    found every monthly model of a simulated year trained on 2024-01-01 .. 02-11, then refused)."""
    from backend.backtest.data import open_simulated
    from backend.backtest.walkforward import WalkForwardPredictor
    from backend.market.sources.simulated import EPOCH

    now = EPOCH + timedelta(days=60)
    clock = BacktestClock(now)
    data = open_simulated(clock, interval="1h")
    predictor = WalkForwardPredictor(data, clock, SettingsHolder(make_settings()), retrain_days=30)
    try:
        predictor._bars_until_now(tmp_path / "bars")
    finally:
        predictor.close()
    rows = (tmp_path / "bars" / "BTCUSDT.csv").read_text().strip().splitlines()[1:]
    opens = [int(row.split(",")[0]) for row in rows]
    assert len(opens) == 60 * 24  # 1,440 hours
    assert opens == sorted(set(opens))
    assert opens[0] == int(EPOCH.timestamp() * 1000)
    assert opens[-1] == int(now.timestamp() * 1000) - 3_600_000
