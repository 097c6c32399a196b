"""The outbox: events and their per-channel deliveries in the database, so a restart loses nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from backend.notify.events import Event, Severity
from database.models.notify import NotificationDelivery, NotificationEvent

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DROPPED = "dropped"
HELD = "held"
SUMMARISED = "summarised"
STATES = (PENDING, DELIVERED, FAILED, DROPPED, HELD, SUMMARISED)


@dataclass(frozen=True)
class Due:
    """A delivery to attempt now, with its event."""

    delivery_id: int
    channel: str
    attempts: int
    event: Event


class Outbox:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    # writing ------------------------------------------------------------------------------------
    def add(self, event: Event, channels: Sequence[str]) -> bool:
        """Store the event and one pending delivery per channel; False when its dedup key exists."""
        with self._sessions.begin() as session:
            return self.add_in(session, event, channels)

    def add_in(self, session: Session, event: Event, channels: Sequence[str]) -> bool:
        """Like `add`, inside the caller's transaction (the event commits with the fact it tells)."""
        values = {
            "dedup_key": event.dedup_key[:200],
            "kind": event.kind,
            "severity": event.level.value,
            "occurred_at": event.time,
            "text": event.text,
            "data": event.data or None,
        }
        dialect = session.get_bind().dialect.name
        table = NotificationEvent.__table__
        assert isinstance(table, Table)  # noqa: S101  (for the type checker)
        stmt: Any
        if dialect == "postgresql":
            stmt = postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=["dedup_key"])
        elif dialect == "sqlite":
            stmt = sqlite.insert(table).values(values).on_conflict_do_nothing(index_elements=["dedup_key"])
        else:  # pragma: no cover  (the service runs on SQLite or PostgreSQL)
            stmt = insert(table).values(values)
        event_id = session.execute(stmt.returning(table.c.id)).scalar_one_or_none()
        if event_id is None:
            return False
        now = self._clock()
        for channel in channels:
            session.add(
                NotificationDelivery(
                    event_id=event_id, channel=channel, state=PENDING, attempts=0, next_attempt_at=now, updated_at=now
                )
            )
        return True

    def add_delivery(self, event_id: int, channel: str) -> None:
        now = self._clock()
        with self._sessions.begin() as session:
            session.add(
                NotificationDelivery(
                    event_id=event_id, channel=channel, state=PENDING, attempts=0, next_attempt_at=now, updated_at=now
                )
            )

    # reading --------------------------------------------------------------------------------------
    def due(self, channel: str, now: datetime, limit: int) -> list[Due]:
        """Pending deliveries of a channel whose time has come, oldest event first."""
        with self._sessions() as session:
            rows = session.execute(
                select(NotificationDelivery, NotificationEvent)
                .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
                .where(
                    NotificationDelivery.channel == channel,
                    NotificationDelivery.state == PENDING,
                    NotificationDelivery.next_attempt_at <= now,
                )
                .order_by(NotificationEvent.occurred_at, NotificationEvent.id)
                .limit(limit)
            ).all()
        return [Due(d.id, d.channel, d.attempts, _event(e)) for d, e in rows]

    def held(self, channel: str) -> list[tuple[int, str]]:
        """(delivery id, event kind) of the messages the rate limit held back on a channel."""
        with self._sessions() as session:
            rows = session.execute(
                select(NotificationDelivery.id, NotificationEvent.kind)
                .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
                .where(NotificationDelivery.channel == channel, NotificationDelivery.state == HELD)
                .order_by(NotificationDelivery.id)
            ).all()
        return [(row[0], row[1]) for row in rows]

    def sent_since(self, channel: str, since: datetime) -> int:
        """Messages delivered on a channel since a time (the rate limit's window survives restarts)."""
        with self._sessions() as session:
            count = session.execute(
                select(func.count())
                .select_from(NotificationDelivery)
                .where(
                    NotificationDelivery.channel == channel,
                    NotificationDelivery.state == DELIVERED,
                    NotificationDelivery.delivered_at >= since,
                )
            ).scalar_one()
        return int(count)

    def orphaned(self, channels: Sequence[str]) -> list[int]:
        """Pending or held deliveries of channels that are no longer configured."""
        with self._sessions() as session:
            rows = session.execute(
                select(NotificationDelivery.id).where(
                    NotificationDelivery.state.in_((PENDING, HELD)), NotificationDelivery.channel.not_in(list(channels))
                )
            ).all()
        return [row[0] for row in rows]

    def exists(self, dedup_key: str) -> bool:
        with self._sessions() as session:
            found = session.execute(
                select(NotificationEvent.id).where(NotificationEvent.dedup_key == dedup_key[:200])
            ).first()
        return found is not None

    def pending_count(self) -> int:
        with self._sessions() as session:
            count = session.execute(
                select(func.count())
                .select_from(NotificationDelivery)
                .where(NotificationDelivery.state.in_((PENDING, HELD)))
            ).scalar_one()
        return int(count)

    def recent(self, *, limit: int, state: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """The newest events with their deliveries, for GET /notifications."""
        with self._sessions() as session:
            query = select(NotificationEvent).order_by(NotificationEvent.id.desc()).limit(limit)
            if kind is not None:
                query = query.where(NotificationEvent.kind == kind)
            if state is not None:
                query = query.where(
                    NotificationEvent.id.in_(
                        select(NotificationDelivery.event_id).where(NotificationDelivery.state == state)
                    )
                )
            events = list(session.execute(query).scalars())
            ids = [event.id for event in events]
            deliveries: dict[int, list[NotificationDelivery]] = {i: [] for i in ids}
            if ids:
                for row in session.execute(
                    select(NotificationDelivery)
                    .where(NotificationDelivery.event_id.in_(ids))
                    .order_by(NotificationDelivery.id)
                ).scalars():
                    deliveries[row.event_id].append(row)
        return [
            {
                "id": e.id,
                "kind": e.kind,
                "severity": e.severity,
                "time": e.occurred_at,
                "text": e.text,
                "dedup_key": e.dedup_key,
                "deliveries": [
                    {
                        "channel": d.channel,
                        "state": d.state,
                        "attempts": d.attempts,
                        "next_attempt_at": d.next_attempt_at if d.state == PENDING else None,
                        "delivered_at": d.delivered_at,
                        "last_error": d.last_error,
                    }
                    for d in deliveries[e.id]
                ],
            }
            for e in events
        ]

    # state changes ----------------------------------------------------------------------------------
    def mark(
        self,
        delivery_ids: Sequence[int],
        state: str,
        *,
        error: str | None = None,
        attempted: bool = False,
        retry_at: datetime | None = None,
    ) -> None:
        if not delivery_ids:
            return
        now = self._clock()
        values: dict[str, Any] = {"state": state, "updated_at": now}
        if state in (DELIVERED, SUMMARISED):
            values["delivered_at"] = now
        if error is not None:
            values["last_error"] = error[:500]
        if attempted:
            values["attempts"] = NotificationDelivery.attempts + 1
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        with self._sessions.begin() as session:
            session.execute(
                update(NotificationDelivery).where(NotificationDelivery.id.in_(list(delivery_ids))).values(**values)
            )


def backoff(attempts: int, first: float, cap: float = 3600.0) -> timedelta:
    """Delay before the next attempt after ``attempts`` failed ones: first, 2*first, 4*first ... cap."""
    return timedelta(seconds=min(first * (2 ** max(attempts - 1, 0)), cap))


def _event(row: NotificationEvent) -> Event:
    return Event(
        kind=row.kind,
        text=row.text,
        dedup_key=row.dedup_key,
        time=row.occurred_at,
        data=dict(row.data or {}),
        severity=Severity(row.severity),
    )
