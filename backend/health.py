"""A background probe of the database, so /health answers without touching it per request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from backend.observability.metrics import Metrics

log = logging.getLogger(__name__)


class HealthProbe:
    def __init__(self, engine: Engine, metrics: Metrics, interval_seconds: float) -> None:
        self._engine = engine
        self._metrics = metrics
        self._interval = interval_seconds
        self.reachable = False
        self.error: str | None = "not checked yet"
        self.checked_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def check_now(self) -> bool:
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            if self.reachable or self.error != str(exc):
                log.warning("database unreachable", extra={"error": str(exc)})
            self.reachable, self.error = False, f"{type(exc).__name__}: {exc}".splitlines()[0]
        else:
            self.reachable, self.error = True, None
        self.checked_at = datetime.now(UTC)
        self._metrics.database_up.set(1 if self.reachable else 0)
        return self.reachable

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await asyncio.to_thread(self.check_now)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="health-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
