"""/docs: Swagger UI served from the installed swagger-ui-bundle package (no CDN, so it works offline),
under a Content-Security-Policy that allows this origin and the page's one inline script by hash."""

from __future__ import annotations

import base64
import hashlib
import re

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/docs"
STATIC_PATH = "/docs/static"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _page(app: FastAPI) -> tuple[bytes, str]:
    html = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} - API documentation",
        swagger_js_url=f"{STATIC_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_PATH}/favicon-32x32.png",
    ).body
    html = bytes(html)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html.decode())
    )
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {hashes}",
            # Swagger UI (React) sets style attributes on its elements
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return bytes(html), csp


def docs_routes(app: FastAPI) -> list[Route | Mount]:
    """The /docs page and its static files; add with ``FastAPI(docs_url=None, redoc_url=None)``."""
    cache: dict[str, tuple[bytes, str]] = {}

    async def docs(_request: Request) -> Response:
        if "page" not in cache:  # built on first use: the OpenAPI URL and title are final by then
            cache["page"] = _page(app)
        body, csp = cache["page"]
        return HTMLResponse(body, headers={"content-security-policy": csp})

    return [
        Route(DOCS_PATH, docs, methods=["GET"], include_in_schema=False),
        Mount(STATIC_PATH, app=StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static"),
    ]
