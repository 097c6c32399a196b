"""The portfolio's marks over time: recorded at each cycle and hourly, read back as a history.

Each mark stores the high-water mark of equity up to it (the previous mark's, or this equity when
higher), so the drawdown of any mark is exact whatever window or step is asked for. A history is
the marks in [since, until), thinned to the last mark of each `step` bucket when a step is given
(or when there are more than MAX_POINTS marks: then the smallest step of STEPS that fits).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from database.models.portfolio import PortfolioMark

ZERO = Decimal(0)
MAX_POINTS = 5000
STEPS = (60, 300, 900, 3600, 4 * 3600, 86_400, 7 * 86_400)
STEP_PATTERN = r"^[1-9][0-9]{0,5}[smhd]$"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
DRAWDOWN_PLACES = Decimal("0.000001")


class StepError(ValueError):
    pass


def parse_step(text: str) -> int:
    """ "90s", "15m", "1h", "1d" -> seconds."""
    if not re.match(STEP_PATTERN, text):
        raise StepError(f"step {text!r}: expected a number and a unit s, m, h or d (e.g. 15m, 1h, 1d)")
    return int(text[:-1]) * _UNITS[text[-1]]


@dataclass(frozen=True, slots=True)
class MarkPoint:
    time: datetime
    source: str
    run_id: int | None
    equity: Decimal
    cash: Decimal
    gross_exposure: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    fees_paid: Decimal
    high_water: Decimal

    @property
    def drawdown(self) -> Decimal:
        """(equity - high water) / high water: 0 at a new high, negative below it."""
        if self.high_water <= 0:
            return ZERO
        return ((self.equity - self.high_water) / self.high_water).quantize(DRAWDOWN_PLACES)


@dataclass(frozen=True, slots=True)
class History:
    since: datetime | None
    until: datetime
    step_seconds: int | None
    marks_in_range: int
    points: list[MarkPoint]
    max_drawdown: Decimal  # the deepest drawdown of any mark in the range (not only the points shown)


def _point(row: PortfolioMark) -> MarkPoint:
    return MarkPoint(
        time=row.time,
        source=row.source,
        run_id=row.run_id,
        equity=row.equity,
        cash=row.cash,
        gross_exposure=row.gross_exposure,
        realised_pnl=row.realised_pnl,
        unrealised_pnl=row.unrealised_pnl,
        fees_paid=row.fees_paid,
        high_water=row.high_water,
    )


def thin(points: list[MarkPoint], step_seconds: int) -> list[MarkPoint]:
    """The last point of each step-long bucket (buckets aligned to the Unix epoch), in time order."""
    out: list[MarkPoint] = []
    bucket: int | None = None
    for point in points:
        b = int(point.time.timestamp()) // step_seconds
        if b == bucket:
            out[-1] = point
        else:
            out.append(point)
            bucket = b
    return out


class PortfolioMarks:
    def __init__(self, sessions: sessionmaker[Session], *, exchange: str, clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self.exchange = exchange
        self._clock = clock

    def record(
        self,
        *,
        equity: Decimal,
        cash: Decimal,
        gross_exposure: Decimal,
        realised_pnl: Decimal,
        unrealised_pnl: Decimal,
        fees_paid: Decimal,
        contributed: Decimal,
        source: str,
        run_id: int | None = None,
    ) -> MarkPoint:
        now = self._clock()
        with self._sessions.begin() as session:
            previous = session.scalar(
                select(PortfolioMark.high_water)
                .where(PortfolioMark.exchange == self.exchange, PortfolioMark.time <= now)
                .order_by(PortfolioMark.time.desc(), PortfolioMark.id.desc())
                .limit(1)
            )
            row = PortfolioMark(
                exchange=self.exchange,
                time=now,
                source=source,
                run_id=run_id,
                equity=equity,
                cash=cash,
                gross_exposure=gross_exposure,
                realised_pnl=realised_pnl,
                unrealised_pnl=unrealised_pnl,
                fees_paid=fees_paid,
                contributed=contributed,
                high_water=equity if previous is None else max(previous, equity),
            )
            session.add(row)
            session.flush()
            return _point(row)

    def peak_and_latest(self, *, since: datetime, until: datetime) -> tuple[MarkPoint, MarkPoint] | None:
        """The mark of highest equity in [since, until] (the earliest of equals) and the latest mark
        in it; None without marks. The drawdown protection's reading (backend/execution/drawdown.py).
        Equity is stored as exact text, so the highest is found here, not by the database's ORDER BY."""
        with self._sessions() as session:
            q = select(PortfolioMark.id, PortfolioMark.equity).where(
                PortfolioMark.exchange == self.exchange, PortfolioMark.time >= since, PortfolioMark.time <= until
            )
            rows = session.execute(q.order_by(PortfolioMark.time, PortfolioMark.id)).all()
            if not rows:
                return None
            peak_id = rows[0].id
            best = rows[0].equity
            for row in rows:
                if row.equity > best:
                    peak_id, best = row.id, row.equity
            peak = session.get_one(PortfolioMark, peak_id)
            latest = session.get_one(PortfolioMark, rows[-1].id)
            return _point(peak), _point(latest)

    def count(self) -> int:
        with self._sessions() as session:
            q = select(func.count()).select_from(PortfolioMark).where(PortfolioMark.exchange == self.exchange)
            return int(session.scalar(q) or 0)

    def history(
        self, *, since: datetime | None, until: datetime | None, step_seconds: int | None, max_points: int = MAX_POINTS
    ) -> History:
        """Marks in [since, until) (no upper bound without `until`), oldest first.

        Raises StepError when the step leaves more than `max_points` points."""
        end = until or self._clock()
        with self._sessions() as session:
            q = select(PortfolioMark).where(PortfolioMark.exchange == self.exchange)
            if until is not None:
                q = q.where(PortfolioMark.time < until)
            if since is not None:
                q = q.where(PortfolioMark.time >= since)
            rows = session.scalars(q.order_by(PortfolioMark.time, PortfolioMark.id)).all()
            points = [_point(r) for r in rows]
        deepest = min((p.drawdown for p in points), default=ZERO)
        chosen = step_seconds
        if chosen is None and len(points) > max_points:
            chosen = next((s for s in STEPS if len(thin(points, s)) <= max_points), STEPS[-1])
        shown = thin(points, chosen) if chosen else points
        if len(shown) > max_points:
            raise StepError(f"step {chosen}s gives {len(shown)} points, more than {max_points}: ask for a longer step")
        return History(
            since=since,
            until=end.astimezone(UTC),
            step_seconds=chosen,
            marks_in_range=len(points),
            points=shown,
            max_drawdown=deepest,
        )


__all__ = ["MAX_POINTS", "STEP_PATTERN", "History", "MarkPoint", "PortfolioMarks", "StepError", "parse_step", "thin"]
