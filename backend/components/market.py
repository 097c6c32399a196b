"""The market component: builds the source, sentiment and MarketService, registers the refresh job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from backend.context import AppContext
from backend.market.factory import build_sentiment, build_source
from backend.market.service import MarketService
from backend.scheduler.jobs.market import JOB_ID, refresh_market
from backend.scheduler.runner import JobSpec


@asynccontextmanager
async def component(ctx: AppContext) -> AsyncIterator[None]:
    settings = ctx.settings.current.market
    source = build_source(settings, ctx.clock)
    sentiment = build_sentiment(settings, ctx.clock, ctx.metrics)
    service = MarketService(source, lambda: ctx.settings.current.market, ctx.clock, ctx.metrics, sentiment)
    ctx.services["market"] = service
    ctx.health_checks["market"] = service.health_reasons
    ctx.runner.add(
        JobSpec(
            job_id=JOB_ID,
            func=partial(refresh_market, ctx),
            description="Warm the market data and sentiment caches",
            seconds=lambda s: s.scheduler.refresh_seconds,
            writes=False,  # reads the market only; keeps caches warm in read-only mode too
        )
    )
    try:
        yield
    finally:
        service.close()
        if sentiment is not None:
            sentiment.close()
