"""A training run end to end: rows running -> completed | failed, determinism, the activation guard-rail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ai_engine.artifacts import sha256_file
from ai_engine.dataset import DataError
from ai_engine.evaluation import EvaluationReport
from ai_engine.gates import gate_report, statistical_gates
from ai_engine.registry import ModelRegistry
from ai_engine.training import ActivationPolicy, TrainingRequest, activation_decision, execute_run, start_run, train
from backend.tests.ai.conftest import TrainFn
from config.settings import Settings


def test_the_same_seed_gives_the_same_model_hash(train_model: TrainFn, registry: ModelRegistry) -> None:
    a = train_model(seed=5)
    b = train_model(seed=5)
    c = train_model(seed=6)
    assert a.run.version != b.run.version
    # the model file is the same byte for byte (the manifest differs: version and trained_at)
    model_a, model_b, model_c = (sha256_file(Path(o.run.model_path or "")) for o in (a, b, c))
    assert model_a == model_b
    assert a.run.sha256 != b.run.sha256
    assert model_c != model_a  # subsampling depends on the seed


def test_a_run_records_source_parameters_and_metrics(train_model: TrainFn, replay_dir: Path) -> None:
    outcome = train_model(seed=3, horizon=2, days=15)
    run = outcome.run
    assert run.status == "completed"
    assert run.params is not None
    assert run.params["request"]["source"] == f"replay:{replay_dir}"
    assert run.params["request"]["horizon"] == 2
    assert run.params["request"]["seed"] == 3
    assert run.params["objective"] == "multi:softprob"
    assert run.params["tree_method"] == "hist"
    assert run.dataset is not None
    assert run.dataset["source"] == f"replay:{replay_dir}"
    assert run.dataset["horizon_bars"] == 2
    evaluation = outcome.metadata["evaluation"]
    assert evaluation["purge_bars"] == 2
    assert len(evaluation["folds"]) == 2
    for fold in evaluation["folds"]:
        assert fold["gap_bars"] == 2 + evaluation["embargo_bars"]
    assert outcome.metadata["summary"]["class_prior_log_loss"] > 0
    assert outcome.metadata["evaluation"]["oos"]["signal"]["fee_bps"] == 10.0


def test_a_data_problem_fails_the_run_with_the_reason(
    ai_settings: Settings, registry: ModelRegistry, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"holds no SYMBOL\.csv files"):
        train(TrainingRequest(source=f"replay:{tmp_path / 'empty'}"), ai_settings, registry)
    run = registry.latest_run()
    assert run is not None
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.startswith("data problem: replay directory")
    assert registry.active_run() is None
    assert not registry.models_dir.exists() or not any(registry.models_dir.iterdir())


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("replay:/nonexistent/dir", "does not exist"),
        ("carrier-pigeon", "unknown source"),
    ],
)
def test_bad_sources_fail_clearly(ai_settings: Settings, registry: ModelRegistry, source: str, message: str) -> None:
    run, effective = start_run(TrainingRequest(source=source), ai_settings, registry)
    assert registry.get_run(run.version).status == "running"  # type: ignore[union-attr]
    with pytest.raises(DataError, match=message):
        execute_run(run, effective, ai_settings, registry)
    assert registry.get_run(run.version).status == "failed"  # type: ignore[union-attr]


def test_unknown_replay_symbols_are_refused(train_model: TrainFn) -> None:
    with pytest.raises(DataError, match="no file for NOPEUSDT"):
        train_model(symbols=["NOPEUSDT"])


def _gates(*, prior: float, blind: float, model: float = 1.05, refused: int = 0) -> dict[str, Any]:
    folds = [
        {"fold": k + 1, **({"refused": "no BUY", "missing_classes": ["BUY"]} if k < refused else {})} for k in range(3)
    ]
    report = EvaluationReport(
        folds=folds,
        oos={"model": {"log_loss": model}, "class_prior": {"log_loss": prior}, "direction_blind": {"log_loss": blind}},
    )
    return gate_report(statistical_gates(report))


@pytest.mark.parametrize(
    ("policy", "gates", "activated", "forced", "says"),
    [
        (ActivationPolicy.AUTO, {"prior": 1.09, "blind": 1.07}, True, False, "every gate passed"),
        (ActivationPolicy.AUTO, {"prior": 1.05, "blind": 1.07}, False, False, "does not beat the class prior"),
        (ActivationPolicy.AUTO, {"prior": 1.09, "blind": 1.04}, False, False, "does not beat the direction-blind"),
        (ActivationPolicy.AUTO, {"prior": 1.09, "blind": 1.07, "refused": 1}, False, False, "1 of 3 folds refused"),
        (ActivationPolicy.NEVER, {"prior": 1.09, "blind": 1.07}, False, False, "never"),
        (ActivationPolicy.FORCE, {"prior": 1.09, "blind": 1.04}, True, True, "forced"),
        (ActivationPolicy.FORCE, {"prior": 1.09, "blind": 1.07}, True, False, "every gate passed anyway"),
    ],
)
def test_auto_activates_only_a_model_that_passes_every_gate(
    policy: ActivationPolicy, gates: dict[str, Any], activated: bool, forced: bool, says: str
) -> None:
    decision = activation_decision(policy, _gates(**gates))
    assert decision.activated is activated
    assert decision.forced is forced
    assert says in decision.reason


def test_auto_activation_applies_the_guard_rail_to_a_real_run(train_model: TrainFn, registry: ModelRegistry) -> None:
    outcome = train_model(activate=ActivationPolicy.AUTO)
    assert outcome.activated is (outcome.report.beats_class_prior and outcome.report.beats_direction_blind)
    assert outcome.run.metrics is not None
    assert outcome.run.metrics["gates"]["passed"] is outcome.activated
    assert outcome.run.metrics["activation"]["policy"] == "auto"
    active = registry.active_run()
    assert (active is not None and active.version == outcome.run.version) is outcome.activated


def test_a_model_on_the_simulated_market_trains_end_to_end(make_settings: object, registry: ModelRegistry) -> None:
    from backend.tests.ai.factories import fast_model_settings

    settings = make_settings(  # type: ignore[operator]
        model=fast_model_settings(QT_MODEL_TRAIN_SYMBOLS="BTCUSDT,ETHUSDT", QT_MODEL_TRAIN_DAYS=10)
    )
    outcome = train(TrainingRequest(source="simulated", activate=ActivationPolicy.NEVER), settings, registry)
    assert outcome.run.status == "completed"
    assert outcome.metadata["data"]["source"] == "simulated"
    assert outcome.metadata["data"]["symbols"] == ["BTCUSDT", "ETHUSDT"]
    # the simulated sentiment index is joined as of each bar (it has a history to train on)
    assert outcome.metadata["data"]["sentiment"] is True
    assert outcome.metadata["data"]["sentiment_source"] == "simulated"


def test_the_simulated_sentiment_history_is_what_the_service_would_have_read() -> None:
    from datetime import UTC, datetime

    import pandas as pd

    from ai_engine.sources import simulated_sentiment_history
    from backend.market.sentiment import SimulatedSentiment

    start, end = pd.Timestamp("2024-03-01 05:00", tz="UTC"), pd.Timestamp("2024-03-04 23:00", tz="UTC")
    history = simulated_sentiment_history(42, start, end)
    assert len(history) == 4
    live = SimulatedSentiment(42, clock=lambda: datetime(2024, 3, 3, 12, tzinfo=UTC)).fetch()
    assert history[pd.Timestamp(live.as_of)] == live.value / 100


def test_boosting_stops_after_the_round_in_which_stop_was_asked() -> None:
    import numpy as np

    from ai_engine.booster import BoosterParams, TrainingCancelledError, fit_booster
    from ai_engine.features import FEATURE_NAMES

    rng = np.random.default_rng(0)
    features = rng.standard_normal((300, len(FEATURE_NAMES)))
    labels = rng.integers(0, 3, 300)
    rounds: list[int] = []

    def stop() -> bool:
        rounds.append(1)
        return len(rounds) >= 3

    with pytest.raises(TrainingCancelledError):
        fit_booster(features, labels, BoosterParams(rounds=500, threads=1), stop=stop)
    assert len(rounds) == 4  # three rounds polled, then the check after training


def test_a_run_trains_only_on_bars_that_have_closed(make_settings: object, registry: ModelRegistry) -> None:
    """Trained at 12:40, a 1h model's data ends with the 11:00 bar: the 12:00 bar is still forming
    (its close is not known yet), so no label or feature may read it."""
    from datetime import UTC, datetime

    import pandas as pd

    from backend.tests.ai.factories import fast_model_settings

    settings = make_settings(  # type: ignore[operator]
        model=fast_model_settings(QT_MODEL_TRAIN_SYMBOLS="BTCUSDT,ETHUSDT", QT_MODEL_TRAIN_DAYS=10)
    )
    now = datetime(2026, 11, 20, 12, 40, tzinfo=UTC)
    request = TrainingRequest(source="simulated", interval="1h", activate=ActivationPolicy.NEVER)
    outcome = train(request, settings, registry, now=now)
    assert pd.Timestamp(outcome.metadata["data"]["end"]) == pd.Timestamp("2026-11-20 11:00", tz="UTC")
