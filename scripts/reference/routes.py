"""The admin routes reference: the generated block of docs/admin_token_usage.md, read from the real app's routes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from scripts.reference import GENERATOR, REPO_ROOT, cell

ADMIN_MD = REPO_ROOT / "docs" / "admin_token_usage.md"
BEGIN_ROUTES = f"<!-- BEGIN GENERATED: admin routes ({GENERATOR}) -->"
END_ROUTES = "<!-- END GENERATED: admin routes -->"


def _dependency_calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    for sub in getattr(dependant, "dependencies", []):
        if sub.call is not None:
            yield sub.call
        yield from _dependency_calls(sub)


def route_depends_on(route: Any, func: Callable[..., Any]) -> bool:
    """Whether ``func`` is anywhere among the route's (nested) dependencies."""
    return any(call is func for call in _dependency_calls(route.dependant))


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    admin: bool
    writable: bool  # refused with 503 in read-only mode


def build_app() -> Any:
    """The real application (routes only: the lifespan is not started, nothing is connected)."""
    from backend.main import create_app
    from config.settings import load_settings

    return create_app(load_settings({"scheduler": {"QUANTUM_TRADER_DISABLE_SCHEDULER": True}}, env_file=False))


def route_docs(app: Any | None = None) -> list[RouteDoc]:
    from backend.api.routes import iter_api_routes
    from backend.api.security import require_admin, require_writable

    app = app if app is not None else build_app()
    docs = []
    for route in iter_api_routes(app.routes):
        summary = route.summary or ""
        if not summary and route.description:
            summary = route.description.strip().splitlines()[0]
        for method in sorted(route.methods or ()):
            docs.append(
                RouteDoc(
                    method=method,
                    path=route.path,
                    summary=summary or route.name,
                    admin=route_depends_on(route, require_admin),
                    writable=route_depends_on(route, require_writable),
                )
            )
    return sorted(docs, key=lambda d: (d.path, d.method))


def admin_routes_table(app: Any | None = None) -> str:
    lines = [
        "| Method | Path | What it does | Read-only mode |",
        "|---|---|---|---|",
    ]
    for doc in route_docs(app):
        if doc.admin:
            mode = "503 (mutation refused)" if doc.writable else "served"
            lines.append(f"| `{doc.method}` | `{doc.path}` | {cell(doc.summary)} | {mode} |")
    return "\n".join(lines)


def admin_md(current: str, app: Any | None = None) -> str:
    """The admin doc with its generated block replaced."""
    start, end = current.find(BEGIN_ROUTES), current.find(END_ROUTES)
    if start < 0 or end < start:
        raise SystemExit(f"{ADMIN_MD}: markers {BEGIN_ROUTES!r} ... {END_ROUTES!r} not found")
    return current[: start + len(BEGIN_ROUTES)] + "\n" + admin_routes_table(app) + "\n" + current[end:]
