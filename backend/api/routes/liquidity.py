"""liquidity endpoints (filled in by the liquidity issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["liquidity"])
