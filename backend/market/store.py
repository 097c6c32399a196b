"""The klines table: an idempotent upsert keyed by (source, symbol, interval, open_time), and gap finding.

Rows are compared before writing, so re-storing the same bars changes nothing (not even
``fetched_at``); ``plan`` does all the reading and comparing with zero writes (the pipeline's
``--dry-run``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.market.source import interval_delta
from backend.market.types import Kline
from database.models.market import Kline as KlineRow

_FIELDS = ("close_time", "open", "high", "low", "close", "volume", "quote_volume", "trade_count")


@dataclass
class UpsertPlan:
    new: list[Kline] = field(default_factory=list)
    changed: list[Kline] = field(default_factory=list)
    unchanged: int = 0

    @property
    def writes(self) -> int:
        return len(self.new) + len(self.changed)


@dataclass(frozen=True, slots=True)
class Gap:
    symbol: str
    after: datetime  # open time of the last bar before the gap
    missing_bars: int


def find_gaps(bars: Sequence[Kline], interval: str) -> list[Gap]:
    """Holes in a symbol's sorted bars (a step longer than one interval)."""
    step = interval_delta(interval)
    gaps = []
    for prev, cur in itertools.pairwise(bars):
        missing = int((cur.open_time - prev.open_time) / step) - 1
        if missing > 0:
            gaps.append(Gap(cur.symbol, prev.open_time, missing))
    return gaps


def _same(row: KlineRow, bar: Kline) -> bool:
    return all(getattr(row, name) == getattr(bar, name) for name in _FIELDS)


class KlineStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] | None = None) -> None:
        self._sessions = sessions
        self._clock = clock or (lambda: datetime.now(UTC))

    def _existing(
        self, session: Session, source: str, symbol: str, interval: str, bars: Sequence[Kline]
    ) -> dict[datetime, KlineRow]:
        if not bars:
            return {}
        first = min(b.open_time for b in bars)
        last = max(b.open_time for b in bars)
        rows = session.scalars(
            select(KlineRow).where(
                KlineRow.source == source,
                KlineRow.symbol == symbol,
                KlineRow.interval == interval,
                KlineRow.open_time >= first,
                KlineRow.open_time <= last,
            )
        )
        return {row.open_time: row for row in rows}

    def plan(self, source: str, symbol: str, interval: str, bars: Sequence[Kline]) -> UpsertPlan:
        """What an upsert would do, read-only."""
        plan = UpsertPlan()
        with self._sessions() as session:
            existing = self._existing(session, source, symbol, interval, bars)
            for bar in bars:
                row = existing.get(bar.open_time)
                if row is None:
                    plan.new.append(bar)
                elif _same(row, bar):
                    plan.unchanged += 1
                else:
                    plan.changed.append(bar)
            session.rollback()
        return plan

    def upsert(self, source: str, symbol: str, interval: str, bars: Sequence[Kline]) -> UpsertPlan:
        """Insert new bars, update changed ones, leave identical ones untouched; one transaction."""
        plan = UpsertPlan()
        now = self._clock()
        bars = list({bar.open_time: bar for bar in bars}.values())
        with self._sessions() as session, session.begin():
            existing = self._existing(session, source, symbol, interval, bars)
            for bar in bars:
                row = existing.get(bar.open_time)
                if row is None:
                    session.add(
                        KlineRow(
                            source=source,
                            symbol=symbol,
                            interval=interval,
                            open_time=bar.open_time,
                            fetched_at=now,
                            **{name: getattr(bar, name) for name in _FIELDS},
                        )
                    )
                    plan.new.append(bar)
                elif _same(row, bar):
                    plan.unchanged += 1
                else:
                    for name in _FIELDS:
                        setattr(row, name, getattr(bar, name))
                    row.fetched_at = now
                    plan.changed.append(bar)
        return plan

    def stored(self, source: str, symbol: str, interval: str, start: datetime, end: datetime) -> list[Kline]:
        with self._sessions() as session:
            rows = session.scalars(
                select(KlineRow)
                .where(
                    KlineRow.source == source,
                    KlineRow.symbol == symbol,
                    KlineRow.interval == interval,
                    KlineRow.open_time >= start,
                    KlineRow.open_time <= end,
                )
                .order_by(KlineRow.open_time)
            ).all()
        return [
            Kline(
                symbol=r.symbol,
                interval=r.interval,
                open_time=r.open_time,
                close_time=r.close_time,
                open=r.open,
                high=r.high,
                low=r.low,
                close=r.close,
                volume=r.volume,
                quote_volume=r.quote_volume,
                trade_count=r.trade_count,
            )
            for r in rows
        ]
