"""The notify component: builds the notification service, hooks the events, runs the sender (leader only).

It runs right after the risk component, so the guard's kill switch changes, the job runs and the
execution component's trades log (start-up reconciliation included) are all heard.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from backend.api.routes.health import health_snapshot
from backend.context import AppContext
from backend.notify import redact
from backend.notify.channels import secrets_of
from backend.notify.events import Event
from backend.notify.hooks import HealthEvents
from backend.notify.model_events import ModelEvents
from backend.notify.remote import build_controls
from backend.notify.service import NotifyService
from backend.notify.summary import DailySummary
from backend.notify.telegram import TelegramControl, run_until_cancelled

log = logging.getLogger(__name__)


class NotifyConfigError(RuntimeError):
    """QT_NOTIFY_URLS names a channel that cannot be built: the service refuses to start."""


@asynccontextmanager
async def component(ctx: AppContext) -> AsyncIterator[None]:
    settings = ctx.settings.current.notify
    scrubber = redact.install(secrets_of(settings))
    try:
        service = NotifyService(
            ctx.sessions,
            lambda: ctx.settings.current.notify,
            ctx.metrics,
            is_leader=ctx.runner.is_leader,
            clock=ctx.clock,
        )
    except ValueError as exc:
        redact.uninstall(scrubber)
        raise NotifyConfigError(str(exc)) from None
    ctx.services["notify"] = service
    if ctx.read_only:
        # GET /notifications still reads the snapshot's outbox; nothing is written or sent
        log.info("notifications paused in read-only mode (the outbox cannot be written)")
        try:
            yield
        finally:
            redact.uninstall(scrubber)
        return
    if service.channels:
        log.info("notification channels", extra={"channels": [c.label for c in service.channels]})
    guard = ctx.services.get("risk_guard")
    if guard is not None:
        guard.on_kill_switch(service.on_kill_switch)
    ctx.runner.on_run(service.on_job_run)
    service.watchers.append(HealthEvents(service.notifier, lambda: health_snapshot(ctx), ctx.clock).check)
    service.watchers.append(ModelEvents(service.notifier, ctx.services, ctx.clock).check)
    service.watchers.append(
        DailySummary(
            service.notifier,
            ctx.sessions,
            lambda: ctx.settings.current.notify,
            ctx.clock,
            lambda: ctx.settings.current.execution.quote_asset,
        ).check
    )
    service.start()
    remote = _start_remote_control(ctx)
    started = ctx.started_at
    service.emit(
        Event(
            kind="service.started",
            text=f"Quantum Trader started ({ctx.settings.current.app.env.value}).",
            dedup_key=f"service.started:{started.isoformat()}:{os.getpid()}",
            time=ctx.clock(),
        )
    )
    try:
        yield
    finally:
        service.emit(
            Event(
                kind="service.stopped",
                text="Quantum Trader is stopping.",
                dedup_key=f"service.stopped:{started.isoformat()}:{os.getpid()}",
                time=ctx.clock(),
            )
        )
        if remote is not None:
            remote.cancel()
            await asyncio.wait({remote}, timeout=10)
        await service.stop()
        redact.uninstall(scrubber)


def _start_remote_control(ctx: AppContext) -> asyncio.Task[None] | None:
    settings = ctx.settings.current.notify
    if settings.telegram_bot_token is None:
        return None
    if not settings.telegram_allowed_chats:
        log.warning("QT_TELEGRAM_BOT_TOKEN is set but QT_TELEGRAM_ALLOWED_CHATS is empty: no remote control")
        return None
    control = TelegramControl(
        api_url=settings.telegram_api_url,
        token=settings.telegram_bot_token.get_secret_value(),
        allowed_chats=settings.telegram_allowed_chats,
        controls=build_controls(ctx),
        audit=ctx.audit,
        metrics=ctx.metrics,
        clock=ctx.clock,
        confirm_seconds=settings.telegram_confirm_seconds,
        poll_seconds=settings.telegram_poll_seconds,
        is_leader=ctx.runner.is_leader,
    )
    ctx.services["telegram"] = control
    log.info("telegram remote control on", extra={"chats": len(settings.telegram_allowed_chats)})
    return asyncio.create_task(run_until_cancelled(control), name="telegram-remote-control")
