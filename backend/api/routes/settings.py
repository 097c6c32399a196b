"""Effective configuration (admin): read with sources, change the tunable subset at run time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request

from backend.api.deps import AdminDep, CtxDep, WritableDep
from backend.api.schemas.settings import SettingCleared, SettingsResponse, SettingsUpdateResponse
from backend.api.security import Audited, audit_or_503
from backend.encoding import find_unencodable
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
    where = find_unencodable(changes)
    if where is not None:
        problem = f"{'.'.join(map(str, where))}: NaN, Infinity and lone surrogates are not accepted"
        audit_or_503(ctx, request, caller, "refused: invalid", detail=[problem])
        raise HTTPException(422, detail=[problem])
    try:
        diff = service.preview(changes)
    except ConfigError as exc:
        audit_or_503(ctx, request, caller, "refused: invalid", detail=exc.problems)
        raise HTTPException(422, detail=exc.problems) from exc
    # the line is written once the change is applied (or not): it says what happened
    with Audited(
        ctx,
        request,
        caller,
        before={name: change["before"] for name, change in diff.items()},
        after={name: change["after"] for name, change in diff.items()},
    ):
        diff = service.apply(changes, actor=caller.fingerprint or caller.client or "unknown")
    return SettingsUpdateResponse(settings=service.describe(), changed=diff)


@router.delete(
    "/{name}",
    response_model=SettingCleared,
    responses={
        404: {"description": "Unknown setting, or it has no run-time override."},
        422: {"description": "Without the override the configuration would be invalid; nothing changed."},
    },
)
async def delete_setting(name: str, request: Request, ctx: CtxDep, caller: AdminDep, _w: WritableDep) -> SettingCleared:
    """Remove a run-time override: the setting returns to its environment (or default) value."""
    service = _service(ctx)
    try:
        diff = service.preview_clear(name)
    except LookupError as exc:
        audit_or_503(ctx, request, caller, "refused: no override", detail=str(exc.args[0]))
        raise HTTPException(404, detail=str(exc.args[0])) from exc
    except ConfigError as exc:
        audit_or_503(ctx, request, caller, "refused: invalid", detail=exc.problems)
        raise HTTPException(422, detail=exc.problems) from exc
    with Audited(ctx, request, caller, before={name: diff["before"]}, after={name: diff["after"]}):
        diff = service.clear(name)
    return SettingCleared(settings=service.describe(), name=name, before=diff["before"], after=diff["after"])
