"""The market-cache-refresh job: warm the caches for the configured symbols plus the universe."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from backend.context import AppContext
from backend.scheduler.runner import JobResult, RunStatus

log = logging.getLogger(__name__)

JOB_ID = "market-cache-refresh"


async def universe_symbols(ctx: AppContext) -> list[str]:
    """The liquidity service's current universe, when that service exists (empty otherwise)."""
    liquidity = ctx.services.get("liquidity")
    current = getattr(liquidity, "current_symbols", None)
    if current is None:
        return []
    try:
        value: Any = current()
        if inspect.isawaitable(value):
            value = await value
        return [str(s) for s in value or []]
    except Exception as exc:
        log.warning("universe unavailable for the market refresh", extra={"error": str(exc)})
        return []


async def refresh_market(ctx: AppContext) -> JobResult:
    service = ctx.services["market"]
    symbols = list(dict.fromkeys([*ctx.settings.current.scheduler.symbols, *await universe_symbols(ctx)]))
    report = await service.refresh(symbols)
    details = {
        "source": service.source_name,
        "symbols": report.symbols,
        "successful_symbols": report.successful,
        "errors": report.errors,
        "breaker": report.breaker,
        "data_age_seconds": service.data_ages(),
        "sentiment": report.sentiment,
        "sentiment_error": report.sentiment_error,
    }
    errors = dict(report.errors)
    if report.sentiment_error:
        errors["sentiment"] = report.sentiment_error
    return JobResult(status=RunStatus.DEGRADED if errors else RunStatus.OK, errors=errors, details=details)
