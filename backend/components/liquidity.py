"""The liquidity component: validates the filter chain, builds the service, registers its job."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from backend.context import AppContext
from backend.liquidity.service import LiquidityService
from backend.scheduler.jobs.liquidity import JOB_ID, refresh_liquidity
from backend.scheduler.runner import JobSpec

log = logging.getLogger(__name__)


@asynccontextmanager
async def component(ctx: AppContext) -> AsyncIterator[None]:
    service = LiquidityService(
        ctx.settings,
        ctx.sessions,
        # looked up at each refresh, so a service built or replaced later is used
        market=lambda: ctx.services.get("market"),
        predictor=lambda: ctx.services.get("predictor"),
        metrics=ctx.metrics,
        clock=ctx.clock,
    )
    service.check_configuration()  # ConfigError: an unusable filter chain stops start-up
    try:
        await asyncio.to_thread(service.load_latest)
    except Exception as exc:  # the database may be down at start-up; /health reports that
        log.warning("previous liquidity selection not loaded", extra={"error": str(exc).splitlines()[0]})
    ctx.services["liquidity"] = service
    ctx.runner.add(
        JobSpec(
            job_id=JOB_ID,
            func=functools.partial(refresh_liquidity, service),
            description="Refresh the liquidity universe and its blend with the model",
            seconds=lambda s: s.scheduler.liquidity_refresh_seconds,
            enabled=lambda s: not s.scheduler.liquidity_disabled,
        )
    )
    ctx.health_checks["liquidity"] = service.health_reasons
    yield
