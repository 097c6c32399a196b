"""The HTTP guard (pure ASGI): Host check, JSON-only and same-origin mutations, security headers, a
correct 405 ``Allow``, and an audit line for every refused admin request no route audited itself.

Why each: a blank or leaked-to-the-browser token is not the only defence of a service on loopback —
a web page can POST a form to it (CSRF) and a DNS-rebinding page can reach it by another name, so
the Host must be one of ours and a mutation must be a JSON body (a form or text/plain body is what
a cross-site page can send without a CORS preflight) from no foreign Origin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.security import audit_refusal, require_admin
from config.app import AppSettings

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_TYPES = ("application/json",)
BASE_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
# Answers without a policy of their own (JSON, /metrics): nothing may load, nothing may frame them.
DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def _uses(dependant: Any, call: Callable[..., Any]) -> bool:
    return any(dep.call is call or _uses(dep, call) for dep in dependant.dependencies)


class HttpGuard:
    def __init__(self, app: ASGIApp, *, settings: Callable[[], AppSettings], routes: list[BaseRoute]) -> None:
        self.app = app
        self._settings = settings
        self._routes = routes
        self._admin: dict[int, bool] = {}

    # routes -----------------------------------------------------------------------------------
    def is_admin_route(self, route: Any) -> bool:
        route = getattr(route, "twin", route)  # a lean route stands for its FastAPI twin
        if not isinstance(route, APIRoute):
            return False
        known = self._admin.get(id(route))
        if known is None:
            known = self._admin[id(route)] = _uses(route.dependant, require_admin)
        return known

    def _match(self, scope: Scope) -> tuple[Any, set[str]]:
        """The route a request reaches (or would, with another method), and the methods of every
        route of its path (for the 405 ``Allow``)."""
        full = partial = None
        methods: set[str] = set()
        for route in self._routes:
            match, _child = route.matches(scope)
            if match is Match.NONE:
                continue
            methods |= set(getattr(route, "methods", None) or ())
            if match is Match.FULL and full is None:
                full = route
            elif partial is None:
                partial = route
        return full or partial, methods

    # the guard --------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        app_settings = self._settings()
        headers = dict(scope["headers"])
        method = scope["method"]

        refusal = self._refusal(scope, headers, method, app_settings)
        if refusal is not None:
            status, detail = refusal
            await self._answer(scope, send, status, detail)
            self._audit_if_admin(scope, status, detail, self._match(scope)[0])
            return

        status_code = 0

        async def guarded_send(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                route = scope.get("route")
                extra = list(BASE_HEADERS)
                names = {name.lower() for name, _ in message.get("headers", [])}
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", DEFAULT_CSP))
                if route is not None and self.is_admin_route(route):
                    extra.append((b"cache-control", b"no-store"))
                    names.discard(b"cache-control")
                    message["headers"] = [
                        (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                    ]
                if status_code == 405:  # Starlette names the methods of one route; a path may have several
                    allowed = self._match(scope)[1]
                    if allowed:
                        message["headers"] = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                        extra.append((b"allow", ", ".join(sorted(allowed)).encode()))
                message["headers"] = [
                    *[(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"],
                    *[(k, v) for k, v in extra if k not in names or k in (b"cache-control", b"allow")],
                ]
            await send(message)

        await self.app(scope, receive, guarded_send)
        if 400 <= status_code < 500 and not state.get("audited"):
            route = scope.get("route") or self._match(scope)[0]
            self._audit_if_admin(scope, status_code, state.get("refusal_detail"), route)

    def _refusal(
        self, scope: Scope, headers: dict[bytes, bytes], method: str, app_settings: AppSettings
    ) -> tuple[int, str] | None:
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if host and name not in app_settings.effective_allowed_hosts:
            return 400, f"Host {host[:100]!r} is not served here (QT_ALLOWED_HOSTS)"
        if method in SAFE_METHODS:
            return None
        origin = headers.get(b"origin")
        if origin is not None:
            text = origin.decode("latin-1")
            same = text.split("://", 1)[-1].lower() == host
            if not same and text not in app_settings.cors_origins:
                return 403, f"cross-origin request from {text[:100]!r} refused (QT_CORS_ORIGINS)"
        content_type = headers.get(b"content-type")
        has_body = headers.get(b"content-length", b"0") not in (b"0", b"") or b"transfer-encoding" in headers
        if content_type is not None:
            media = content_type.decode("latin-1").split(";", 1)[0].strip().lower()
            if media not in JSON_TYPES:
                return 415, f"mutations take application/json bodies only (got {media[:60]!r})"
        elif has_body:
            return 415, "mutations take application/json bodies only (no Content-Type given)"
        return None

    async def _answer(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"content-security-policy", DEFAULT_CSP),
                    *BASE_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _audit_if_admin(self, scope: Scope, status: int, detail: Any, route: Any) -> None:
        if route is None or not self.is_admin_route(route):
            return
        app = scope.get("app")
        ctx = getattr(getattr(app, "state", None), "ctx", None)
        if ctx is None:
            return
        try:
            audit_refusal(ctx, Request(scope), status, detail)
        except Exception:  # auditing a refusal must never turn it into a 500
            log.exception("refused admin request not audited")
