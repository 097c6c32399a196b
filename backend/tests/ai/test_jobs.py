"""The model-refresh job: picks up another process's activation, reports a refused model as degraded."""

from __future__ import annotations

from datetime import UTC, datetime

from ai_engine.predictor import Predictor
from ai_engine.registry import ModelRegistry
from backend.scheduler.jobs.model import refresh_model
from backend.scheduler.runner import RunStatus
from backend.tests.ai.conftest import TrainFn
from config.runtime import SettingsHolder
from config.settings import Settings


async def test_refresh_loads_a_newly_activated_model(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    predictor = Predictor(registry, SettingsHolder(ai_settings), clock=lambda: datetime.now(UTC))
    result = await refresh_model(predictor)
    assert result.status is RunStatus.OK
    assert result.details["status"] == "none"
    outcome = train_model()
    result = await refresh_model(predictor)
    assert result.status is RunStatus.OK
    assert result.details == {"status": "active", "version": outcome.run.version, "reason": None}


async def test_refresh_reports_a_refused_model_as_degraded(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    outcome = train_model()
    path = registry.model_dir(outcome.run.version) / "model.ubj"
    path.write_bytes(b"not a model")
    predictor = Predictor(registry, SettingsHolder(ai_settings), clock=lambda: datetime.now(UTC))
    result = await refresh_model(predictor)
    assert result.status is RunStatus.DEGRADED
    assert "sha256" in result.errors["model"]
