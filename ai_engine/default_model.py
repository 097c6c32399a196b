"""First-start model: `make run` (backend/bootstrap.py) trains one when none is active.

It trains on the configured source with the configured defaults (capped at DEFAULT_DAYS of history
so it takes seconds) and activates only under the usual guard-rail (every activation gate passes,
ai_engine.gates). A run that was judged recently and not activated is not repeated at every start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ai_engine.dataset import DataError
from ai_engine.registry import COMPLETED, ModelRegistry
from ai_engine.training import ActivationPolicy, TrainingRequest, train
from config.settings import Settings
from database.session import make_engine, make_session_factory

DEFAULT_DAYS = 60
# A completed, not activated default run younger than this is not retrained at start-up.
RETRY_AFTER = timedelta(hours=24)


def ensure_default_model(
    settings: Settings,
    say: Callable[[str], None] = print,
    *,
    now: datetime | None = None,
) -> str:
    """Train a default model when none is active; returns what happened (one line). Never raises for
    a training failure: the service runs without a model (liquidity-only) and /ai/runs says why."""
    model = settings.model
    if not model.auto_train:
        return "model: QT_MODEL_AUTO_TRAIN=0, no default model trained"
    if settings.database.read_only:
        return "model: read-only database, no default model trained"
    now = now or datetime.now(UTC)
    engine = make_engine(settings.database.effective_url)
    try:
        registry = ModelRegistry(model.artifacts_dir, make_session_factory(engine), interval=model.interval)
        active = registry.active_run()
        if active is not None:
            return f"model: {active.version} is active"
        latest = registry.latest_run()
        if latest is not None and latest.status == COMPLETED and now - latest.started_at < RETRY_AFTER:
            return (
                f"model: {latest.version} was trained {latest.started_at:%Y-%m-%d %H:%M} UTC and not activated "
                "(it failed an activation gate); python ai_engine/train_and_save.py --activate force overrides"
            )
        say(f"model: no active model; training a default one on {settings.market.source.value} data")
        request = TrainingRequest(days=min(model.train_days, DEFAULT_DAYS), activate=ActivationPolicy.AUTO)
        try:
            outcome = train(request, settings, registry, progress=lambda m: say(f"  {m}"))
        except DataError as exc:
            return f"model: default training failed (data problem: {exc}); the service runs without a model"
        except Exception as exc:
            return f"model: default training failed ({type(exc).__name__}: {exc}); the service runs without a model"
        return f"model: {outcome.run.version} {outcome.activation_reason}"
    finally:
        engine.dispose()
