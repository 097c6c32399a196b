"""Routes serving the operator page: the shell for each page, its static files, and plotly.js from
the installed plotly package, every answer with a Content-Security-Policy that allows only this origin.

The pages are plain ES modules (no build step); mutations go through the admin endpoints with the
token the operator typed, exactly as curl would.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
SHELL = WEB_DIR / "index.html"
PAGES = ("overview", "portfolio", "orders", "universe", "model", "backtests", "settings", "audit")
PLOTLY_PATH = "/ui/vendor/plotly.min.js"
GUARDS_MARK = "<!-- plotly-style-guards -->"

# Only this origin, and nothing inline: no inline script or style, no eval, no data: URLs.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
# plotly.js injects a <style> for the map library it bundles unless an element with that style's id
# is already in the document; the shell declares those ids (read from the installed bundle), so the
# bundle runs under a CSP without 'unsafe-inline'. Its own rules go into plotly-rules.css via CSSOM.
_SELF_INJECTED_STYLE = re.compile(
    rb'getElementById\("([0-9A-Za-z_-]{8,128})"\)\)\{var (\w+)=document\.createElement\("style"\)'
)


@dataclass(frozen=True)
class Plotly:
    path: Path
    version: str


def find_plotly() -> Plotly | None:
    """plotly.min.js shipped inside the installed plotly package (None when it is not installed)."""
    try:
        dist = metadata.distribution("plotly")
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("plotly/package_data/plotly.min.js")))
    return Plotly(path, dist.version) if path.is_file() else None


def self_injected_style_ids(bundle: bytes) -> list[str]:
    return sorted({m.group(1).decode() for m in _SELF_INJECTED_STYLE.finditer(bundle)})


class WebAssets:
    """Reads the shell and the plotly bundle once, on first use (never at import time)."""

    @cached_property
    def plotly(self) -> Plotly | None:
        return find_plotly()

    @cached_property
    def shell(self) -> str:
        ids = self_injected_style_ids(self.plotly.path.read_bytes()) if self.plotly else []
        guards = "\n".join(f'  <meta name="plotly-style-guard" id="{i}">' for i in ids)
        return SHELL.read_text(encoding="utf-8").replace(GUARDS_MARK, guards)


class SecurityHeaders:
    """Pure ASGI: adds the CSP and friends (and a cache policy) to every answer under /ui."""

    def __init__(self, app: ASGIApp, cache_control: bytes = b"no-cache") -> None:
        self.app = app
        self.cache_control = cache_control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
                message["headers"] = [*headers, *SECURITY_HEADERS, (b"cache-control", self.cache_control)]
            await send(message)

        await self.app(scope, receive, with_headers)


class _Labelled:
    """Puts the route itself in the scope, so the HTTP metrics label it by its template (bounded)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)  # type: ignore[misc]
        if match is not Match.NONE:
            child["route"] = self
        return match, child


class _Route(_Labelled, Route):
    pass


class _Mount(_Labelled, Mount):
    pass


def web_routes() -> list[BaseRoute]:
    """/ → /ui, /ui and /ui/<page> → the shell, /ui/static/* → files, /ui/vendor/plotly.min.js."""
    assets = WebAssets()

    async def root(_request: Request) -> Response:
        return RedirectResponse("/ui", status_code=307)

    async def shell(request: Request) -> Response:
        page = request.path_params.get("page", PAGES[0])
        if page not in PAGES:
            return JSONResponse({"detail": f"no page {page!r}; pages: {', '.join(PAGES)}"}, status_code=404)
        return HTMLResponse(assets.shell)

    async def plotly(request: Request) -> Response:
        found = assets.plotly
        if found is None:
            return JSONResponse({"detail": "the plotly package is not installed"}, status_code=404)
        etag = f'"plotly-{found.version}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        return FileResponse(found.path, media_type="text/javascript", headers={"etag": etag})

    return [
        _Route("/", root, methods=["GET"], include_in_schema=False),
        _Route("/ui", SecurityHeaders(_endpoint(shell)), methods=["GET"], include_in_schema=False),
        _Route(PLOTLY_PATH, SecurityHeaders(_endpoint(plotly), b"public, max-age=86400"), include_in_schema=False),
        _Mount("/ui/static", SecurityHeaders(StaticFiles(directory=STATIC_DIR)), name="ui-static"),
        _Route("/ui/{page}", SecurityHeaders(_endpoint(shell)), methods=["GET"], include_in_schema=False),
    ]


def _endpoint(handler: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """An ASGI app from a request handler, so SecurityHeaders can wrap it like the static files."""
    return request_response(handler)
