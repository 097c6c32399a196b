"""The admin audit log's tail (admin): the latest admin actions, newest first, paginated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import AdminDep, CtxDep
from backend.api.schemas.audit import AuditEntry, AuditTailResponse
from backend.observability.audit import read_tail

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditTailResponse)
def get_audit(
    ctx: CtxDep,
    _caller: AdminDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    action: Annotated[str | None, Query(max_length=100, description="Only actions containing this text.")] = None,
) -> AuditTailResponse:
    """The newest entries of QT_ADMIN_AUDIT_PATH (admin mutations and refused attempts)."""
    page = read_tail(ctx.audit.path, limit=limit, offset=offset, action=action or None)
    return AuditTailResponse(
        limit=limit,
        offset=offset,
        action=action or None,
        has_more=page.has_more,
        entries=[AuditEntry.model_validate(entry) for entry in page.entries],
    )
