"""Every router of the API, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

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


def iter_api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute under an app's or router's routes, descending into included routers.

    FastAPI >= 0.16x keeps included routers as wrappers (with ``original_router``) instead of
    copying their routes; our routers carry their prefix on the router, so paths are complete.
    """
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from iter_api_routes(inner.routes)
