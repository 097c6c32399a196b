"""The market_snapshots table: the market each live execution cycle traded on (for the drift report)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base


class MarketSnapshotRecord(Base):
    """One execution cycle's inputs: the clock, the snapshot, the order books its fills walked, the
    weights it traded toward and the ledger's state before it (kept QT_SNAPSHOT_RETENTION_DAYS)."""

    __tablename__ = "market_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the cycle's execution_runs.id
    exchange: Mapped[str] = mapped_column(String(32))
    taken_at: Mapped[datetime] = mapped_column(index=True)  # the cycle's clock when it started
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
