"""The model component: builds the registry, the predictor and the model service in the lifespan,
loads the active model (off the event loop) and registers the model-refresh job and health check."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pandas as pd

from ai_engine.predictor import Predictor
from ai_engine.registry import ModelRegistry
from ai_engine.service import ModelService
from backend.context import AppContext
from backend.scheduler.jobs.model import JOB_ID, refresh_model
from backend.scheduler.runner import JobSpec

log = logging.getLogger(__name__)

# A refresh is one indexed query; once a minute keeps replicas and the age gauge current.
REFRESH_SECONDS = 60
# How long shutdown waits for a training run to reach its next step.
STOP_TIMEOUT_SECONDS = 30.0


def _sentiment(ctx: AppContext) -> pd.Series | None:
    """The market service's last sentiment reading as the feature expects it (value / 100)."""
    market = ctx.services.get("market")
    service = getattr(market, "sentiment", None)
    reading = getattr(service, "last", None)
    if reading is None:
        return None
    return pd.Series([reading.value / 100], index=pd.DatetimeIndex([reading.as_of]), dtype=float)


@asynccontextmanager
async def component(ctx: AppContext) -> AsyncIterator[None]:
    settings = ctx.settings.current
    registry = ModelRegistry(
        settings.model.artifacts_dir, ctx.sessions, clock=ctx.clock, interval=settings.model.interval
    )
    predictor = Predictor(
        registry, ctx.settings, metrics=ctx.metrics, clock=ctx.clock, sentiment=lambda: _sentiment(ctx)
    )
    service = ModelService(registry, predictor, ctx.settings, clock=ctx.clock)
    try:
        if not ctx.read_only:
            await asyncio.to_thread(registry.sweep_temporary)
            failed = await asyncio.to_thread(registry.fail_interrupted_runs)
            if failed:
                log.warning("training runs interrupted by a restart marked failed", extra={"runs": failed})
        state = await asyncio.to_thread(predictor.reload)
        log.info("model state", extra={"status": state.status, "version": state.version, "reason": state.reason})
    except Exception as exc:  # the database may be down at start-up; /health reports that
        log.warning("active model not loaded", extra={"error": str(exc).splitlines()[0]})
    ctx.services["predictor"] = predictor
    ctx.services["model_registry"] = registry
    ctx.services["model"] = service
    ctx.health_checks["model"] = predictor.health_reasons
    ctx.runner.add(
        JobSpec(
            job_id=JOB_ID,
            func=functools.partial(refresh_model, predictor),
            description="Reload the model when another process activated one; refresh its age",
            seconds=lambda _s: REFRESH_SECONDS,
            writes=False,
        )
    )
    try:
        yield
    finally:
        if service.training_in_progress:
            stopped = await asyncio.to_thread(service.stop, STOP_TIMEOUT_SECONDS)
            if not stopped:
                log.warning("training run still running at shutdown; it will be marked failed at next start")
