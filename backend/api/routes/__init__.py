"""Every router of the API, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.routes import ai, health, liquidity, metrics, portfolio, risk, scheduler, settings

ROUTERS: list[APIRouter] = [
    health.router,
    scheduler.router,
    settings.router,
    risk.router,
    liquidity.router,
    ai.router,
    portfolio.router,
    metrics.router,
]
