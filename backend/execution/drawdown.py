"""The equity drawdown protection's reading: the portfolio marks over QT_DRAWDOWN_WINDOW_DAYS,
handed to the risk guard after every stored mark (which halts on a breach of QT_MAX_DRAWDOWN_PCT)."""

from __future__ import annotations

from datetime import datetime, timedelta

from backend.execution.marks import PortfolioMarks
from backend.risk.guard import RiskGuard
from backend.risk.protections import DrawdownReading


def read_drawdown(marks: PortfolioMarks, *, now: datetime, window_days: int) -> DrawdownReading | None:
    """Equity at the latest mark against the highest equity marked since ``now - window_days``."""
    since = now - timedelta(days=window_days)
    found = marks.peak_and_latest(since=since, until=now)
    if found is None:
        return None
    peak, latest = found
    return DrawdownReading(
        window_start=since, high_water=peak.equity, high_water_at=peak.time, equity=latest.equity, as_of=latest.time
    )


def watch_drawdown(guard: RiskGuard, marks: PortfolioMarks, *, now: datetime) -> DrawdownReading | None:
    """Read the drawdown and give it to the guard (which halts on a new breach); sync, run off the loop."""
    reading = read_drawdown(marks, now=now, window_days=guard.settings.drawdown_window_days)
    if reading is not None:
        guard.note_drawdown_sync(reading, now=now)
    return reading


__all__ = ["read_drawdown", "watch_drawdown"]
