"""The first-start model of `make run`: trained when none is active, never repeated needlessly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ai_engine.default_model import ensure_default_model
from ai_engine.registry import ModelRegistry
from backend.tests.ai.conftest import TrainFn
from backend.tests.ai.factories import fast_model_settings
from config.settings import Settings

SettingsFactory = Callable[..., Settings]


def _settings(make_settings: SettingsFactory, **model: object) -> Settings:
    values = fast_model_settings(
        QT_MODEL_AUTO_TRAIN=True, QT_MODEL_TRAIN_SYMBOLS="BTCUSDT,ETHUSDT,SOLUSDT", QT_MODEL_TRAIN_DAYS=12
    )
    values.update(model)
    return make_settings(model=values)


def test_a_fresh_install_trains_a_default_model_on_the_configured_source(
    make_settings: SettingsFactory, registry: ModelRegistry
) -> None:
    settings = _settings(make_settings)
    lines: list[str] = []
    outcome = ensure_default_model(settings, lines.append)
    run = registry.latest_run()
    assert run is not None
    assert run.status == "completed"
    assert run.dataset is not None
    assert run.dataset["source"] == "simulated"
    assert run.version in outcome
    assert "activated" in outcome  # activated or "not activated: <the failed gates>"
    assert lines[0] == "model: no active model; training a default one on simulated data"
    assert (registry.active_run() is not None) == (run.metrics or {})["gates"]["passed"]


def test_an_active_model_is_kept(make_settings: SettingsFactory, train_model: TrainFn) -> None:
    outcome = train_model()
    assert ensure_default_model(_settings(make_settings)) == f"model: {outcome.run.version} is active"


def test_a_recent_run_that_was_not_activated_is_not_repeated_at_every_start(
    make_settings: SettingsFactory, train_model: TrainFn, registry: ModelRegistry
) -> None:
    recent = train_model(activate="never")
    message = ensure_default_model(_settings(make_settings), now=datetime.now(UTC) + timedelta(hours=1))
    assert recent.run.version in message
    assert "not activated" in message
    assert registry.list_runs(limit=10, offset=0)[0] == 1


def test_auto_train_off_trains_nothing(make_settings: SettingsFactory, registry: ModelRegistry) -> None:
    message = ensure_default_model(_settings(make_settings, QT_MODEL_AUTO_TRAIN=False))
    assert "QT_MODEL_AUTO_TRAIN=0" in message
    assert registry.latest_run() is None


def test_a_data_problem_is_reported_and_the_service_can_still_start(
    make_settings: SettingsFactory, registry: ModelRegistry
) -> None:
    settings = _settings(make_settings, QT_MODEL_TRAIN_SYMBOLS="NOSUCHUSDT")
    message = ensure_default_model(settings)
    assert "default training failed (data problem: the simulated market has no symbol" in message
    run = registry.latest_run()
    assert run is not None
    assert run.status == "failed"
