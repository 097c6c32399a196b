"""The notification service: channels, outbox, notifier and sender, built once in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.notify.channels import Channel, build_channels
from backend.notify.events import Event
from backend.notify.hooks import JobEvents, OrderEvents, kill_switch_event
from backend.notify.notifier import Notifier
from backend.notify.outbox import Outbox
from backend.notify.sender import Sender
from backend.observability.metrics import Metrics
from backend.risk.models import KillSwitchState
from config.notify import NotifySettings

log = logging.getLogger(__name__)

# How long shutdown waits for a last pass (so "service stopped" usually goes out before the exit).
FINAL_PASS_SECONDS = 5.0


class NotifyService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Callable[[], NotifySettings],
        metrics: Metrics,
        *,
        is_leader: Callable[[], Awaitable[bool]],
        clock: Callable[[], datetime],
        channels: list[Channel] | None = None,
    ) -> None:
        self._settings = settings
        self.clock = clock
        self.channels: list[Channel] = channels if channels is not None else build_channels(settings())
        self.outbox = Outbox(sessions, clock)
        self.notifier = Notifier(self.outbox, settings, lambda: [c.id for c in self.channels], metrics)
        self.sender = Sender(self.outbox, lambda: self.channels, settings, metrics, is_leader=is_leader, clock=clock)
        self._is_leader = is_leader
        self.on_order_event = OrderEvents(self.notifier)
        self.on_job_run = JobEvents(self.notifier)
        # checked before each pass on the leader (health transitions, the daily summary)
        self.watchers: list[Callable[[], object]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def on_kill_switch(self, before: KillSwitchState, after: KillSwitchState) -> None:
        event = kill_switch_event(before, after)
        if event is not None:
            self.notifier.emit(event)
            self.wake_threadsafe()

    # emitting ---------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        """Queue an event (never blocks); delivered by the leader's sender."""
        self.notifier.emit(event)

    def emit_sync(self, event: Event) -> bool:
        return self.notifier.emit_sync(event)

    def send_test(self, actor: str) -> dict[str, Any]:
        """Store a test message for every channel and wake the sender (POST /notifications/test)."""
        now = self.clock()
        event = Event(
            kind="test",
            text=f"Test notification from Quantum Trader, asked by {actor}.",
            dedup_key=f"test:{uuid.uuid4().hex}",
            time=now,
            data={"actor": actor},
        )
        self.notifier.emit_sync(event)
        self.wake_threadsafe()
        return {"dedup_key": event.dedup_key, "channels": [self.describe(c) for c in self.channels]}

    @staticmethod
    def describe(channel: Channel) -> dict[str, str]:
        return {"id": channel.id, "kind": channel.kind, "label": channel.label}

    # running ----------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def wake_threadsafe(self) -> None:
        """Wake the sender from any thread (a kill switch change should go out at once)."""
        if self._event_loop is not None:
            self._event_loop.call_soon_threadsafe(self._wake.set)

    async def pass_once(self) -> dict[str, int]:
        """The watchers, then one sender pass (leader only); what the loop does each time."""
        if await self._is_leader():
            for watch in self.watchers:
                try:
                    await asyncio.to_thread(watch)
                except Exception as exc:
                    log.warning(
                        "notification watcher failed", extra={"error": (str(exc) or type(exc).__name__).splitlines()[0]}
                    )
        return await self.sender.run_once()

    def start(self) -> None:
        self._event_loop = asyncio.get_running_loop()
        self.notifier.start()
        self._task = asyncio.create_task(self._loop(), name="notify-sender")

    async def _loop(self) -> None:
        # the flag, not only the cancellation, ends the loop: before Python 3.12 asyncio.wait_for can
        # swallow a cancellation that arrives as the wake event fires
        while not self._stopping:
            try:
                await self.notifier_flushed()
                await self.pass_once()
            except Exception as exc:
                log.warning(
                    "notification pass failed", extra={"error": (str(exc) or type(exc).__name__).splitlines()[0]}
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings().poll_seconds)
            self._wake.clear()

    async def notifier_flushed(self) -> None:
        """Wait until queued events are in the outbox (so a pass right after an emit sees them)."""
        await asyncio.to_thread(self.notifier.flush)

    async def stop(self) -> None:
        """Stop the loop, write queued events, and give the outbox one last bounded pass."""
        self._stopping = True
        if self._task is not None:
            self._wake.set()
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=FINAL_PASS_SECONDS * 2)
            self._task = None
        await asyncio.to_thread(self.notifier.close)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sender.run_once(), timeout=FINAL_PASS_SECONDS)
