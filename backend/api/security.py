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
SETUP_ADVICE = (
    "`make run` generates one into backend/.env, as does python -m backend.bootstrap; "
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
            detail=f"QT_ADMIN_TOKEN is not set: admin routes are closed ({SETUP_ADVICE})",
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
    """A refused attempt without a valid token: aggregated per client and minute (see AuditLog.refused)."""
    ctx.metrics.admin_requests.labels(outcome=reason).inc()
    request.state.audited = True
    try:
        ctx.audit.refused(_action(request), reason, client=caller.client, token=caller.token)
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
    """Write an audit line whose outcome is known now (a refusal); 503 when it cannot be written."""
    request.state.audited = True
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


class Audited:
    """The audit of one mutation, written once its outcome is known.

    Entering checks that the log can be written (503, nothing done, when it cannot); the route then
    acts and may set ``before``/``after``/``outcome``/``detail``; leaving writes one line saying what
    happened: ``ok`` (or the outcome set), ``refused: ...`` for a 4xx, ``failed: ...`` for an error,
    in which case ``after`` is ``before`` (nothing was applied). With ``fail_safe`` (turning the kill
    switch on) an unwritable log never refuses the action: it is logged and counted, and its line
    is written as soon as the log is writable again.
    """

    def __init__(
        self,
        ctx: AppContext,
        request: Request,
        caller: AdminCaller,
        *,
        before: Any = None,
        after: Any = None,
        detail: Any = None,
        outcome: str = "ok",
        fail_safe: bool = False,
    ) -> None:
        self.ctx, self.request, self.caller = ctx, request, caller
        self.before, self.after, self.detail, self.outcome = before, after, detail, outcome
        self.fail_safe = fail_safe

    def capture(self, before: Any, after: Any) -> None:
        """An AuditHook: the service reports the state before and after the change it makes."""
        self.before, self.after = before, after

    def __enter__(self) -> Audited:
        self.request.state.audited = True
        try:
            self.ctx.audit.ensure_writable()
        except AuditWriteError as exc:
            self.ctx.metrics.audit_write_failures.inc()
            if not self.fail_safe:
                raise HTTPException(
                    status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"audit log unavailable, nothing changed: {exc}"
                ) from exc
            log.error(
                "audit log unavailable: going ahead anyway (fail-safe action); its line is written when it can",
                extra={"action": _action(self.request), "error": str(exc)},
            )
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object) -> None:
        outcome, after, detail = self.outcome, self.after, self.detail
        if isinstance(exc, HTTPException):
            verdict = "refused" if exc.status_code < 500 else "failed"
            outcome, after, detail = f"{verdict}: {exc.status_code}", self.before, exc.detail
        elif exc is not None:
            outcome, after, detail = f"failed: {type(exc).__name__}", self.before, str(exc).splitlines()[:1]
        written = self.ctx.audit.write_or_keep(
            _action(self.request),
            outcome,
            client=self.caller.client,
            token=self.caller.token,
            before=self.before,
            after=after,
            detail=detail,
        )
        if not written:
            self.ctx.metrics.audit_write_failures.inc()
            log.error(
                "audit line kept in memory until the log is writable",
                extra={"action": _action(self.request), "outcome": outcome},
            )


def audit_refusal(ctx: AppContext, request: Request, status_code: int, detail: Any) -> None:
    """Audit a refused admin request no route audited itself (422 body, 404 job, 413 body...).

    With a valid token it is a line of its own; without one it is aggregated like a missing token.
    """
    app = ctx.settings.current.app
    expected = app.admin_token.get_secret_value()
    given = request.headers.get(ADMIN_HEADER)
    client = client_address(request)
    authenticated = not app.admin_auth_enabled or (
        bool(expected and given)
        and hmac.compare_digest((given or "").encode("utf-8", "surrogateescape"), expected.encode("utf-8"))
    )
    try:
        if authenticated:
            ctx.audit.write(_action(request), f"refused: {status_code}", client=client, token=given, detail=detail)
        else:
            reason = "missing_token" if not given else "bad_token"
            ctx.audit.refused(_action(request), f"{reason} ({status_code})", client=client, token=given)
    except AuditWriteError as exc:
        ctx.metrics.audit_write_failures.inc()
        log.error("refused admin attempt not audited", extra={"error": str(exc)})


async def require_writable(request: Request) -> None:
    """Mutations answer 503 while the service runs read-only on a snapshot."""
    ctx: AppContext = request.app.state.ctx
    if ctx.read_only:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="read-only mode (QT_DATABASE_READ_ONLY=1): mutations are refused",
        )
