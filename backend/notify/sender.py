"""The sender: delivers the outbox on the leader replica, per channel, with retries, backoff and a rate limit.

Each pass, per channel: deliveries older than QT_NOTIFY_MAX_AGE_SECONDS are dropped; the others
are sent oldest first while the channel's last-minute count is under QT_NOTIFY_RATE_PER_MINUTE
(critical events always go); the rest is held, and once the channel has room again one line says
how many messages of which kinds were held back. A failed attempt is retried after a delay that
doubles each time, until QT_NOTIFY_MAX_ATTEMPTS, then the delivery is failed. A channel that fails
rests until that message's retry time, so a dead channel costs one timeout per delay, not one per
message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from backend.notify.channels import Channel, ChannelError
from backend.notify.events import Event, Severity
from backend.notify.outbox import DELIVERED, DROPPED, FAILED, HELD, PENDING, SUMMARISED, Outbox, backoff
from backend.observability.metrics import Metrics
from config.notify import NotifySettings

log = logging.getLogger(__name__)

RATE_WINDOW = timedelta(minutes=1)
BATCH = 100


class Sender:
    def __init__(
        self,
        outbox: Outbox,
        channels: Callable[[], list[Channel]],
        settings: Callable[[], NotifySettings],
        metrics: Metrics,
        *,
        is_leader: Callable[[], Awaitable[bool]],
        clock: Callable[[], datetime],
    ) -> None:
        self.outbox = outbox
        self._channels = channels
        self._settings = settings
        self._metrics = metrics
        self._is_leader = is_leader
        self._clock = clock
        # a channel that failed rests until its failed message's retry time (not one timeout per pass)
        self._resting_until: dict[str, datetime] = {}

    async def run_once(self) -> dict[str, int]:
        """One pass over every channel; returns counts by outcome (empty on a follower)."""
        if not await self._is_leader():
            return {}
        channels = self._channels()
        orphans = await asyncio.to_thread(self.outbox.orphaned, [c.id for c in channels])
        totals: Counter[str] = Counter()
        if orphans:
            await asyncio.to_thread(self.outbox.mark, orphans, DROPPED, error="channel no longer configured")
            self._metrics.notify_deliveries.labels(channel="removed", outcome="dropped").inc(len(orphans))
            totals["dropped"] += len(orphans)
        results = await asyncio.gather(*(self._channel_pass(channel) for channel in channels))
        for result in results:
            totals.update(result)
        pending = await asyncio.to_thread(self.outbox.pending_count)
        self._metrics.notify_outbox_pending.set(pending)
        return dict(totals)

    async def _channel_pass(self, channel: Channel) -> Counter[str]:
        settings = self._settings()
        counts: Counter[str] = Counter()
        now = self._clock()
        resting = self._resting_until.get(channel.id)
        if resting is not None and now < resting:
            return counts
        due = await asyncio.to_thread(self.outbox.due, channel.id, now, BATCH)
        sent = await asyncio.to_thread(self.outbox.sent_since, channel.id, now - RATE_WINDOW)
        too_old = now - timedelta(seconds=settings.max_age_seconds)
        for item in due:
            if item.event.time < too_old:
                await self._mark(
                    channel, [item.delivery_id], DROPPED, counts, error="older than QT_NOTIFY_MAX_AGE_SECONDS"
                )
                continue
            if sent >= settings.rate_per_minute and item.event.level is not Severity.CRITICAL:
                await self._mark(channel, [item.delivery_id], HELD, counts)
                continue
            if not await self._attempt(channel, item.delivery_id, item.attempts, item.event, counts):
                return counts  # the channel is down: the rest waits for the next pass
            sent += 1
        if sent < settings.rate_per_minute:
            await self._summarise_held(channel, counts)
        return counts

    async def _attempt(
        self, channel: Channel, delivery_id: int, attempts: int, event: Event, counts: Counter[str]
    ) -> bool:
        settings = self._settings()
        try:
            await channel.send(event)
        except Exception as exc:
            error = str(exc) if isinstance(exc, ChannelError) else f"{channel.label}: {type(exc).__name__}"
            done = attempts + 1
            if done >= settings.max_attempts:
                await self._mark(channel, [delivery_id], FAILED, counts, error=error, attempted=True)
                log.error(
                    "notification failed",
                    extra={"channel": channel.id, "kind": event.kind, "attempts": done, "error": error},
                )
            else:
                retry_at = self._clock() + backoff(done, settings.retry_seconds)
                self._resting_until[channel.id] = retry_at
                await asyncio.to_thread(
                    self.outbox.mark, [delivery_id], PENDING, error=error, attempted=True, retry_at=retry_at
                )
                self._metrics.notify_deliveries.labels(channel=channel.id, outcome="retried").inc()
                counts["retried"] += 1
                log.warning(
                    "notification not delivered; will retry",
                    extra={"channel": channel.id, "kind": event.kind, "attempts": done, "error": error},
                )
            return False
        await self._mark(channel, [delivery_id], DELIVERED, counts, attempted=True)
        return True

    async def _summarise_held(self, channel: Channel, counts: Counter[str]) -> None:
        held = await asyncio.to_thread(self.outbox.held, channel.id)
        if not held:
            return
        kinds = Counter(kind for _, kind in held)
        parts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        now = self._clock()
        summary = Event(
            kind="notify.held",
            text=f"{len(held)} notifications were held back by the rate limit ({parts}); see GET /notifications.",
            dedup_key=f"notify.held:{channel.id}:{now.isoformat()}",
            time=now,
            data={"held": dict(kinds)},
        )
        try:
            await channel.send(summary)
        except Exception as exc:
            log.warning(
                "held-back summary not delivered",
                extra={
                    "channel": channel.id,
                    "error": str(exc) if isinstance(exc, ChannelError) else type(exc).__name__,
                },
            )
            return
        await self._mark(channel, [delivery_id for delivery_id, _ in held], SUMMARISED, counts)

    async def _mark(
        self,
        channel: Channel,
        ids: list[int],
        state: str,
        counts: Counter[str],
        *,
        error: str | None = None,
        attempted: bool = False,
    ) -> None:
        await asyncio.to_thread(self.outbox.mark, ids, state, error=error, attempted=attempted)
        self._metrics.notify_deliveries.labels(channel=channel.id, outcome=state).inc(len(ids))
        counts[state] += len(ids)
