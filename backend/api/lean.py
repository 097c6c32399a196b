"""Lean routes: the few polled GET endpoints served by Starlette directly.

FastAPI's per-request machinery (dependency solving, response validation and serialisation) costs
about 20 us, more than these endpoints' own work, and they are the ones load balancers, dashboards
and operators poll (see the API benchmark). An endpoint marked ``@lean`` is written as a plain
``async def endpoint(request) -> Response``: it does its own admin check and builds its body from
its response model. It stays in its FastAPI router, where it documents the path in the OpenAPI
document and keeps its declared dependencies (so the admin-route discovery still finds it), and
``install_lean_routes`` puts a Starlette route for the same path in front of it, so requests skip
the FastAPI layer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])
JSON = "application/json"


def lean(endpoint: Endpoint) -> Endpoint:
    """Mark an endpoint to be served by a LeanRoute (its only parameter must be the request)."""
    endpoint.__lean__ = True  # type: ignore[attr-defined]
    return endpoint


class LeanRoute(Route):
    """A Starlette route standing in front of its FastAPI twin; metrics label it like the twin."""

    def __init__(self, twin: APIRoute) -> None:
        endpoint: Callable[[Request], Awaitable[Response]] = twin.endpoint
        super().__init__(twin.path, endpoint, methods=sorted(twin.methods or {"GET"}), include_in_schema=False)
        self.twin = twin

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self.twin  # the route template for the HTTP metrics
        return match, child


def install_lean_routes(app: FastAPI) -> None:
    from backend.api.routes import iter_api_routes  # the routes package imports this module

    twins = [route for route in iter_api_routes(app.routes) if getattr(route.endpoint, "__lean__", False)]
    for twin in reversed(twins):
        app.router.routes.insert(0, LeanRoute(twin))


def json_response(body: bytes | str, status_code: int = 200, **kwargs: Any) -> Response:
    return Response(content=body, status_code=status_code, media_type=JSON, **kwargs)
