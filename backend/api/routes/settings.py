"""Effective configuration (admin): read with sources, change the tunable subset at run time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request

from backend.api.deps import AdminDep, CtxDep, WritableDep
from backend.api.schemas.settings import SettingsResponse, SettingsUpdateResponse
from backend.api.security import audit_or_503
from backend.runtime_settings import RuntimeSettingsService
from config.settings import ConfigError

router = APIRouter(prefix="/settings", tags=["settings"])


def _service(ctx: CtxDep) -> RuntimeSettingsService:
    service: RuntimeSettingsService = ctx.services["runtime_settings"]
    return service


@router.get("", response_model=SettingsResponse)
async def get_settings(ctx: CtxDep, _caller: AdminDep) -> SettingsResponse:
    """Effective configuration, secrets redacted, with each value's source."""
    return SettingsResponse(settings=_service(ctx).describe())


@router.put(
    "",
    response_model=SettingsUpdateResponse,
    responses={422: {"description": "A value is invalid or not tunable; nothing changed."}},
)
async def put_settings(
    request: Request,
    ctx: CtxDep,
    caller: AdminDep,
    _w: WritableDep,
    changes: dict[str, Any] = Body(
        ..., examples=[{"QT_MAX_NOTIONAL_PER_TRADE": "750", "QUANTUM_TRADER_SYMBOLS": "BTCUSDT,ETHUSDT,SOLUSDT"}]
    ),
) -> SettingsUpdateResponse:
    """Change tunable settings (env names as keys); validated like the environment, applied live."""
    service = _service(ctx)
    if not changes:
        raise HTTPException(422, detail=["no settings given"])
    try:
        diff = service.preview(changes)
    except ConfigError as exc:
        audit_or_503(ctx, request, caller, "refused: invalid", detail=exc.problems)
        raise HTTPException(422, detail=exc.problems) from exc
    audit_or_503(
        ctx,
        request,
        caller,
        "ok",
        before={name: change["before"] for name, change in diff.items()},
        after={name: change["after"] for name, change in diff.items()},
    )
    diff = service.apply(changes, actor=caller.fingerprint or caller.client or "unknown")
    return SettingsUpdateResponse(settings=service.describe(), changed=diff)
