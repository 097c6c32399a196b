"""portfolio endpoints (filled in by the portfolio issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["portfolio"])
