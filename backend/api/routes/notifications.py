"""Notification endpoints (admin): the outbox with its delivery states, and a test message to every channel."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from backend.api.deps import AdminDep, CtxDep, WritableDep
from backend.api.schemas.notifications import NotificationsResponse, TestNotificationResponse
from backend.api.security import audit_or_503
from backend.context import AppContext
from backend.notify.outbox import STATES
from backend.notify.service import NotifyService

router = APIRouter(prefix="/notifications", tags=["notifications"])

StateQuery = Annotated[
    str | None, Query(pattern="^(" + "|".join(STATES) + ")$", description="Only events with a delivery in this state.")
]


def _service(ctx: AppContext) -> NotifyService:
    service: NotifyService | None = ctx.services.get("notify")
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="notification service not running")
    return service


@router.get("", response_model=NotificationsResponse)
async def get_notifications(
    ctx: CtxDep,
    _caller: AdminDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    state: StateQuery = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
) -> NotificationsResponse:
    """The outbox, newest first: each event with its delivery state per channel."""
    service = _service(ctx)
    rows = await asyncio.to_thread(service.outbox.recent, limit=limit, state=state, kind=kind)
    pending = await asyncio.to_thread(service.outbox.pending_count)
    return NotificationsResponse.model_validate(
        {"channels": [service.describe(c) for c in service.channels], "pending": pending, "notifications": rows}
    )


NO_CHANNEL = (
    "no notification channel is configured: set QT_NOTIFY_URLS (Apprise URLs, comma-separated; "
    "docs/notifications.md) and restart"
)


@router.post(
    "/test",
    response_model=TestNotificationResponse,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "No channel is configured (QT_NOTIFY_URLS): nothing to test."}},
)
async def post_test(request: Request, ctx: CtxDep, caller: AdminDep, _w: WritableDep) -> TestNotificationResponse:
    """Queue a test message for every channel (audited); GET /notifications shows how it went."""
    service = _service(ctx)
    if not service.channels:  # a 202 with no channel looked like a test that went somewhere
        audit_or_503(ctx, request, caller, f"refused: {NO_CHANNEL}")
        raise HTTPException(status.HTTP_409_CONFLICT, detail=NO_CHANNEL)
    channels = [service.describe(c) for c in service.channels]
    audit_or_503(ctx, request, caller, "ok", after={"channels": [c["id"] for c in channels]})
    actor = caller.fingerprint or caller.client or "unknown"
    result = await asyncio.to_thread(service.send_test, f"admin {actor}")
    return TestNotificationResponse.model_validate(result)
