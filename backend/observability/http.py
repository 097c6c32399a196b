"""Pure ASGI middleware: HTTP metrics labelled by route template, and a request body size limit.

One layer for both (each ASGI layer costs a few microseconds per request), with the labelled
metric children cached so a request does no label look-up after the first of its kind.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.observability.metrics import Metrics

UNMATCHED = "unmatched"
# any other method a client invents is counted as "other": labels stay bounded whatever is sent
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._histograms: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_code = 500
        limit = self.max_body_bytes

        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    status_code = 413
                    await _too_large(send, limit)
                    self._observe(scope, status_code, start)
                    return
                break

        received = 0
        refused = False

        async def limited_receive() -> Message:
            # A streamed (chunked) body has no content-length: count it as it arrives. Past the
            # limit, answer 413 at once and tell the app the client left; whatever the app does
            # next (FastAPI turns a failed body read into a 400) is dropped by send_wrapper.
            nonlocal received, refused, status_code
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    status_code = 413
                    await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if refused:
                return
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except Exception:
            if not refused:
                raise
        finally:
            self._observe(scope, status_code, start)

    def _observe(self, scope: Scope, status_code: int, start: float) -> None:
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        method = scope.get("method", "GET")
        if method not in KNOWN_METHODS:
            method = "other"
        key = (method, template, status_code)
        counter = self._counters.get(key)
        if counter is None:
            counter = self.metrics.http_requests.labels(method=method, route=template, status=str(status_code))
            self._counters[key] = counter
        counter.inc()
        histogram = self._histograms.get((method, template))
        if histogram is None:
            histogram = self.metrics.http_request_duration.labels(method=method, route=template)
            self._histograms[(method, template)] = histogram
        histogram.observe(time.perf_counter() - start)


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"detail":"request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class LabelledRoute(Route):
    """A plain Starlette route that puts itself in the scope, so the metrics label it by its path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


def label_plain_routes(routes: list[BaseRoute]) -> None:
    """Replace plain Starlette routes (FastAPI's /openapi.json and /docs) with LabelledRoutes:
    FastAPI's own routes label themselves, plain ones would be counted as unmatched."""
    for index, route in enumerate(routes):
        if type(route) is Route:
            routes[index] = LabelledRoute(
                route.path,
                route.endpoint,
                methods=sorted(route.methods or ()) or None,
                name=route.name,
                include_in_schema=route.include_in_schema,
            )
