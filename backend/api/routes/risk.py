"""risk endpoints (filled in by the risk issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["risk"])
