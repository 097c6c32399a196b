"""The market component: builds its services in the lifespan (filled in by the market issue)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from backend.context import AppContext


@asynccontextmanager
async def component(ctx: AppContext) -> AsyncIterator[None]:
    yield
