"""The model component: builds the registry, the predictor and the model service in the lifespan,
loads the active model (off the event loop) and registers the model-refresh job and health check."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pandas as pd

from ai_engine.cycles import CycleStore
from ai_engine.features import sentiment_feature
from ai_engine.predictor import Predictor
from ai_engine.registry import ModelRegistry
from ai_engine.retrain import RetrainService
from ai_engine.service import ModelService
from backend.backtest.worker import encode_settings
from backend.context import AppContext
from backend.market.types import Kline
from backend.observability.audit import AuditWriteError
from backend.scheduler.jobs import retrain as retrain_jobs
from backend.scheduler.jobs.model import JOB_ID, refresh_model
from backend.scheduler.runner import JobSpec
from config.settings import Settings

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
    return sentiment_feature([(reading.as_of, reading.value)])


def _sentiment_history(ctx: AppContext) -> pd.Series | None:
    """Every reading the market service has held, stamped when it first held it (value / 100)."""
    market = ctx.services.get("market")
    history = list(getattr(getattr(market, "sentiment", None), "history", None) or ())
    return sentiment_feature(history) if history else None


def _retrain_service(ctx: AppContext, registry: ModelRegistry, predictor: Predictor) -> RetrainService:
    async def klines(symbols: Sequence[str], interval: str, limit: int) -> Mapping[str, Sequence[Kline]]:
        market = ctx.services.get("market")
        if market is None:
            return {}
        got: Mapping[str, Sequence[Kline]] = await market.klines(symbols, interval, limit)
        return got

    def audit(action: str, outcome: str, before: Any, after: Any, detail: Any) -> None:
        try:
            ctx.audit.write(action, outcome, client=None, before=before, after=after, detail=detail)
        except AuditWriteError:
            ctx.metrics.audit_write_failures.inc()
            raise

    return RetrainService(
        registry,
        predictor,
        CycleStore(ctx.sessions, ctx.clock),
        ctx.settings,
        klines=klines,
        audit=audit,
        clock=ctx.clock,
        encode_settings=lambda: encode_settings(ctx.settings.current),
        sentiment=lambda: _sentiment_history(ctx),
    )


def _cycle_seconds(settings: Settings) -> int:
    """Both jobs look at the cycle every QT_MODEL_CYCLE_CHECK_SECONDS while retraining is on: whether a
    challenger is due is decided by the service clock against the last cycle's start, so a restart
    neither skips nor repeats one."""
    return settings.model.cycle_check_seconds if settings.model.retrain_hours > 0 else 0


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
    retrain = _retrain_service(ctx, registry, predictor)
    try:
        if not ctx.read_only:
            await asyncio.to_thread(registry.sweep_temporary)
            failed = await asyncio.to_thread(registry.fail_interrupted_runs)
            if failed:
                log.warning("training runs interrupted by a restart marked failed", extra={"runs": failed})
            cycles = await asyncio.to_thread(retrain.fail_interrupted)
            if cycles:
                log.warning("retraining cycles interrupted by a restart marked failed", extra={"cycles": cycles})
        await asyncio.to_thread(retrain.refresh_health)
        state = await asyncio.to_thread(predictor.reload)
        log.info("model state", extra={"status": state.status, "version": state.version, "reason": state.reason})
    except Exception as exc:  # the database may be down at start-up; /health reports that
        log.warning("active model not loaded", extra={"error": str(exc).splitlines()[0]})
    ctx.services["predictor"] = predictor
    ctx.services["model_registry"] = registry
    ctx.services["model"] = service
    ctx.services["model_retrain"] = retrain
    service.cycles = lambda run_id: retrain.latest_view() if run_id is None else retrain.view_for_run(run_id)
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
    ctx.runner.add(
        JobSpec(
            job_id=retrain_jobs.RETRAIN_JOB_ID,
            func=functools.partial(retrain_jobs.retrain, retrain),
            description="Train a challenger on the latest data in a worker process when due (QT_MODEL_RETRAIN_HOURS)",
            seconds=_cycle_seconds,
        )
    )
    ctx.runner.add(
        JobSpec(
            job_id=retrain_jobs.SHADOW_JOB_ID,
            func=functools.partial(retrain_jobs.shadow, retrain),
            description="Record a shadowing challenger's predictions on live bars; promote it if it beat the champion",
            seconds=_cycle_seconds,
        )
    )
    try:
        yield
    finally:
        await retrain.close()
        if service.training_in_progress:
            stopped = await asyncio.to_thread(service.stop, STOP_TIMEOUT_SECONDS)
            if not stopped:
                log.warning("training run still running at shutdown; it will be marked failed at next start")
