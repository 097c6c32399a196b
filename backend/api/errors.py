"""Error answers: every 4xx body encodes whatever the input was, and no exception escapes as a traceback.

FastAPI's own handlers echo the offending input; an input with NaN, Infinity or a lone surrogate
cannot be encoded as JSON/UTF-8, so the handler itself failed with a 500. These handlers make the
echo encodable (see backend.encoding) and note the refusal for the admin audit (backend.api.refusals).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from backend.encoding import encodable

log = logging.getLogger(__name__)


def note_refusal(request: Request, detail: Any) -> None:
    """Keep the reason of a refused request where the refusal audit (middleware) finds it."""
    request.state.refusal_detail = detail


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for this class
        raise exc
    errors = encodable(jsonable_encoder(exc.errors(), custom_encoder={bytes: lambda b: b.decode("utf-8", "replace")}))
    note_refusal(request, [f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in errors])
    return JSONResponse({"detail": errors}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for this class
        raise exc
    headers = getattr(exc, "headers", None)
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=headers)
    detail = encodable(exc.detail)
    if exc.status_code >= 400:
        note_refusal(request, detail)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


async def _database_error(request: Request, exc: Exception) -> Response:
    # an unreachable or failing database is the service's state, not the request's fault
    log.error(
        "database error",
        exc_info=exc,
        extra={"method": request.method, "route": getattr(request.scope.get("route"), "path", None)},
    )
    return JSONResponse({"detail": f"database unavailable ({type(exc).__name__}); nothing changed"}, status_code=503)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the service log; the answer names the kind of error only.
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"method": request.method, "route": getattr(request.scope.get("route"), "path", None)},
    )
    return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(InterfaceError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
