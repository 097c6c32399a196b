"""Risk endpoints (admin): the guard's snapshot, the kill switch, and a reset — each change audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from backend.api.deps import AdminDep, CtxDep, RiskGuardDep, WritableDep
from backend.api.lean import json_response, lean
from backend.api.schemas.risk import KillSwitchRequest, KillSwitchResponse, KillSwitchView, RiskResponse
from backend.api.security import AdminCaller, Audited, require_admin
from backend.context import AppContext
from backend.risk.models import RiskStateUnavailable

router = APIRouter(prefix="/risk", tags=["risk"])

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "The audit log or the risk state store is unavailable; nothing changed."}
}


def _actor(caller: AdminCaller) -> str:
    return caller.fingerprint or caller.client or "unknown"


@router.get("", response_model=RiskResponse, dependencies=[Depends(require_admin)])
@lean
async def get_risk(request: Request) -> Response:
    """Risk guard snapshot: kill switch, limits, price bounds, today's trades, PnL and exposure."""
    await require_admin(request)
    ctx: AppContext = request.app.state.ctx
    body = RiskResponse.of(ctx.services["risk_guard"].snapshot(), ctx.settings.current.risk)
    return json_response(body.model_dump_json())


@router.post("/kill-switch", response_model=KillSwitchResponse, responses=UNAVAILABLE)
async def post_kill_switch(
    request: Request,
    ctx: CtxDep,
    guard: RiskGuardDep,
    caller: AdminDep,
    _w: WritableDep,
    body: KillSwitchRequest,
) -> KillSwitchResponse:
    """Set the kill switch override (true/false), or reset it to QT_KILL_SWITCH with null."""
    reason = body.reason or ("set through the API" if body.enabled is not None else "reset to the default")
    # Turning the kill switch on is never refused for want of an audit line (fail-safe): the line
    # is kept and written when the log is writable again; every other change needs it first.
    with Audited(ctx, request, caller, fail_safe=body.enabled is True) as audit:
        try:
            state = await guard.set_kill_switch(body.enabled, reason, _actor(caller), audit=audit.capture)
        except RiskStateUnavailable as exc:
            raise HTTPException(503, detail=str(exc)) from exc
    return KillSwitchResponse(kill_switch=KillSwitchView.of(state))


@router.post("/reset", response_model=RiskResponse, responses=UNAVAILABLE)
async def post_reset(
    request: Request, ctx: CtxDep, guard: RiskGuardDep, caller: AdminDep, _w: WritableDep
) -> RiskResponse:
    """Clear recorded trades, the kill switch override and the exchange failure count."""
    with Audited(ctx, request, caller) as audit:
        try:
            snapshot = await guard.reset(audit=audit.capture)
        except RiskStateUnavailable as exc:
            raise HTTPException(503, detail=str(exc)) from exc
    return RiskResponse.of(snapshot, ctx.settings.current.risk)
