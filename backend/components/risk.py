"""The risk component: opens the state store, builds the one RiskGuard, wires audit and health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from backend.context import AppContext
from backend.observability.audit import AuditWriteError
from backend.risk.guard import RiskGuard
from backend.risk.store import RiskStateStore

log = logging.getLogger(__name__)

AUTO_HALT_ACTION = "AUTO risk kill-switch"


def _open_store(store: RiskStateStore, guard: RiskGuard) -> None:
    try:
        store.create()
    except SQLAlchemyError:
        # Replicas starting together on a fresh PostgreSQL race to CREATE TABLE (the loser gets a
        # unique violation on pg_type); the tables exist now, so checking again is a no-op. A
        # store that is really unreachable fails again and is handled by the caller.
        store.create()
    guard.load()


async def _follow_store(guard: RiskGuard, interval: Callable[[], float]) -> None:
    """Re-read the state store every health-probe interval: another replica (or worker) sharing
    it may have set the kill switch or recorded trades, and GET /risk and /health must show it."""
    while True:
        await asyncio.sleep(interval())
        try:
            await guard.refresh()
        except Exception:  # noqa: S112  (the guard marked itself unavailable: orders refused, /health says why)
            continue


@asynccontextmanager
async def component(ctx: AppContext) -> AsyncIterator[None]:
    risk = ctx.settings.current.risk
    store = RiskStateStore(risk.state_db_url)

    def audit_auto_halt(before: dict[str, Any], after: dict[str, Any]) -> None:
        try:
            ctx.audit.write(AUTO_HALT_ACTION, "ok", client=None, before=before, after=after)
        except AuditWriteError:
            ctx.metrics.audit_write_failures.inc()
            raise

    guard = RiskGuard(
        store,
        lambda: ctx.settings.current.risk,
        metrics=ctx.metrics,
        clock=ctx.clock,
        audit_hook=audit_auto_halt,
    )
    try:
        await asyncio.to_thread(_open_store, store, guard)
    except Exception as exc:
        # without its state the guard cannot know the kill switch: it refuses every order and
        # /health says why, while the rest of the API stays up for the operator
        guard.mark_unavailable(exc)
        log.error("risk state store not opened", extra={"url": store.engine.url.render_as_string()})

    def health() -> list[str]:
        error = guard.store_error
        return [f"state store unavailable ({error}); all orders refused"] if error else []

    ctx.services["risk_guard"] = guard
    ctx.health_checks["risk"] = health
    follower = asyncio.create_task(_follow_store(guard, lambda: ctx.settings.current.app.health_probe_seconds))
    try:
        yield
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        store.close()
