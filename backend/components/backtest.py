"""The backtest component: the runs store and the service that starts workers; fails interrupted runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from backend.backtest.service import BacktestService
from backend.backtest.store import BacktestStore
from backend.context import AppContext

log = logging.getLogger(__name__)


@asynccontextmanager
async def component(ctx: AppContext) -> AsyncIterator[None]:
    service = BacktestService(BacktestStore(ctx.sessions, ctx.clock), ctx.settings, ctx.clock)
    if not ctx.read_only:
        try:
            failed = await asyncio.to_thread(service.fail_interrupted)
            if failed:
                log.warning("backtests interrupted by a restart marked failed", extra={"runs": failed})
        except Exception as exc:  # the database may be down at start-up; /health reports that
            log.warning("interrupted backtests not checked", extra={"error": str(exc).splitlines()[0]})
    ctx.services["backtests"] = service
    try:
        yield
    finally:
        await service.close()
