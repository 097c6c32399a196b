"""Admin token check (constant time) and auditing of refused attempts.

`require_admin` is async on purpose: FastAPI runs sync dependencies on the thread pool, and the
token check is on the path of every admin request.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from backend.context import AppContext
from backend.observability.audit import AuditWriteError, token_fingerprint

log = logging.getLogger(__name__)

ADMIN_HEADER = "X-Admin-Token"
NO_TOKEN_HINT = (
    "`make run` generates one into backend/.env, as does python -m backend.bootstrap; "  # noqa: S105
    "QT_ADMIN_AUTH_DISABLED=1 opens them on a loopback development host only"
)


@dataclass(frozen=True)
class AdminCaller:
    """Who made an admin request: enough to audit it, never the token itself."""

    client: str | None
    token: str | None

    @property
    def fingerprint(self) -> str | None:
        return token_fingerprint(self.token)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _action(request: Request) -> str:
    return f"{request.method} {request.url.path}"


# Declares the header as an API-key security scheme in the OpenAPI document, so Swagger's
# "Authorize" sends it; the check itself reads the header in require_admin.
ADMIN_KEY = APIKeyHeader(
    name=ADMIN_HEADER,
    scheme_name="AdminToken",
    description="The admin token (QT_ADMIN_TOKEN). Missing: 401; wrong: 403.",
    auto_error=False,
)


async def require_admin(request: Request, _declared: str | None = Security(ADMIN_KEY)) -> AdminCaller:
    ctx: AppContext = request.app.state.ctx
    app = ctx.settings.current.app
    expected = app.admin_token.get_secret_value()
    given = request.headers.get(ADMIN_HEADER)
    caller = AdminCaller(client=client_address(request), token=given)
    if not app.admin_auth_enabled:  # QT_ADMIN_AUTH_DISABLED=1: development on loopback only
        ctx.metrics.admin_requests.labels(outcome="disabled").inc()
        return caller
    if not expected:  # no token configured and the guard not disabled: closed, never open
        _refuse(ctx, request, caller, "no_token_configured")
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"QT_ADMIN_TOKEN is not set: admin routes are closed ({NO_TOKEN_HINT})",
            headers={"WWW-Authenticate": f'{ADMIN_HEADER} realm="quantum-trader"'},
        )
    if not given:
        _refuse(ctx, request, caller, "missing_token")
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"missing {ADMIN_HEADER} header",
            headers={"WWW-Authenticate": f'{ADMIN_HEADER} realm="quantum-trader"'},
        )
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8")):
        _refuse(ctx, request, caller, "bad_token")
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"invalid {ADMIN_HEADER}")
    ctx.metrics.admin_requests.labels(outcome="allowed").inc()
    return caller


def _refuse(ctx: AppContext, request: Request, caller: AdminCaller, reason: str) -> None:
    ctx.metrics.admin_requests.labels(outcome=reason).inc()
    try:
        ctx.audit.write(_action(request), f"refused: {reason}", client=caller.client, token=caller.token)
    except AuditWriteError as exc:
        ctx.metrics.audit_write_failures.inc()
        log.error("refused admin attempt not audited", extra={"error": str(exc)})


def audit_or_503(
    ctx: AppContext,
    request: Request,
    caller: AdminCaller,
    outcome: str,
    *,
    before: Any = None,
    after: Any = None,
    detail: Any = None,
    action: str | None = None,
) -> None:
    """Write the audit line for a mutation; if it cannot be written the mutation must not happen."""
    try:
        ctx.audit.write(
            action or _action(request),
            outcome,
            client=caller.client,
            token=caller.token,
            before=before,
            after=after,
            detail=detail,
        )
    except AuditWriteError as exc:
        ctx.metrics.audit_write_failures.inc()
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"audit log unavailable, nothing changed: {exc}"
        ) from exc


async def require_writable(request: Request) -> None:
    """Mutations answer 503 while the service runs read-only on a snapshot."""
    ctx: AppContext = request.app.state.ctx
    if ctx.read_only:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="read-only mode (QT_DATABASE_READ_ONLY=1): mutations are refused",
        )
