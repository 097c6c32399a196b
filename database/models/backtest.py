"""The backtest_runs table: one row per backtest started from the API (queued → running → done)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base


class BacktestRun(Base):
    __tablename__ = "backtest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued | running | completed | failed
    created_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    requested_by: Mapped[str | None] = mapped_column(String(128))  # the caller's token fingerprint
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # the request, as accepted
    data_range: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # data, interval, start, end, bars
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # metrics.json's per-book figures
    out_dir: Mapped[str | None] = mapped_column(String(1024))
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
