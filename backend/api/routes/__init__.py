"""Every router of the API, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from backend.api.routes import (
    ai,
    audit,
    backtests,
    execution,
    health,
    liquidity,
    metrics,
    notifications,
    portfolio,
    risk,
    scheduler,
    settings,
)
from backend.api.security import require_admin, require_writable

ROUTERS: list[APIRouter] = [
    health.router,
    scheduler.router,
    settings.router,
    risk.router,
    liquidity.router,
    ai.router,
    backtests.router,
    portfolio.router,
    execution.router,
    audit.router,
    notifications.router,
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


_ERROR_BODY: dict[str, Any] = {
    "application/json": {
        "schema": {"type": "object", "properties": {"detail": {}}, "required": ["detail"], "title": "Error"}
    }
}


def _uses(dependant: Any, call: Callable[..., Any]) -> bool:
    return any(dep.call is call or _uses(dep, call) for dep in dependant.dependencies)


def document_error_responses(routes: Sequence[BaseRoute]) -> None:
    """Add the answers every route of a kind can give to the OpenAPI document, so clients (and
    the schemathesis fuzz) know them: 401/403 on admin routes, 503 on mutations, 400/413 where a
    body is read. A route's own description of the same status wins."""
    for route in iter_api_routes(routes):
        extra: dict[int, str] = {}
        if _uses(route.dependant, require_admin):
            extra[401] = "The X-Admin-Token header is missing (the attempt is audited)."
            extra[403] = "The X-Admin-Token header is wrong (the attempt is audited)."
        if _uses(route.dependant, require_writable):
            extra[503] = "Read-only mode, or the audit log cannot be written: nothing changed."
        if route.body_field is not None:
            extra[400] = "The body could not be read as JSON."
            extra[413] = "The body is larger than QT_MAX_BODY_BYTES."
        if route.methods and not set(route.methods) <= {"GET", "HEAD", "OPTIONS"}:
            extra[403] = extra.get(403, "A cross-origin request (an Origin not in QT_CORS_ORIGINS).")
            extra[415] = "The body is not application/json (mutations take JSON only)."
        for code, description in extra.items():
            route.responses.setdefault(code, {"description": description, "content": _ERROR_BODY})
