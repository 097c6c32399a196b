"""ai endpoints (filled in by the ai issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["ai"])
