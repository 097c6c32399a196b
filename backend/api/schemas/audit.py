"""Schemas of /audit: the admin audit log's newest entries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEntry(BaseModel):
    """One line of QT_ADMIN_AUDIT_PATH; a line that is not JSON is returned as ``raw`` only."""

    model_config = ConfigDict(extra="allow")

    time: str | None = Field(None, description="ISO 8601, UTC.")
    action: str | None = Field(None, description='"METHOD /path" of the admin request.')
    outcome: str | None = Field(None, description='"ok", "started", or "refused: <why>".')
    client: str | None = None
    token_fingerprint: str | None = Field(None, description="First 12 hex digits of the token's sha256.")
    before: Any = None
    after: Any = None
    detail: Any = None
    raw: str | None = Field(None, description="The line as written, when it could not be read as JSON.")


class AuditTailResponse(BaseModel):
    limit: int
    offset: int
    action: str | None = Field(description="The action filter applied (case-insensitive substring).")
    has_more: bool = Field(description="Older entries exist beyond this page.")
    entries: list[AuditEntry] = Field(description="Newest first.")
