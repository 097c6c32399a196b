"""The portfolio's marks over time: one row per cycle and per hourly mark (GET /portfolio/history)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base
from database.models.execution import Dec


class PortfolioMark(Base):
    """The portfolio valued at one moment; `high_water` is the highest equity marked up to it."""

    __tablename__ = "portfolio_marks"
    __table_args__ = (Index("ix_portfolio_marks_exchange_time", "exchange", "time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange: Mapped[str] = mapped_column(String(16))
    time: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))  # cycle | hourly
    run_id: Mapped[int | None] = mapped_column(Integer)  # the cycle's execution_runs.id
    equity: Mapped[Decimal] = mapped_column(Dec)
    cash: Mapped[Decimal] = mapped_column(Dec)
    gross_exposure: Mapped[Decimal] = mapped_column(Dec)
    realised_pnl: Mapped[Decimal] = mapped_column(Dec)
    unrealised_pnl: Mapped[Decimal] = mapped_column(Dec)
    fees_paid: Mapped[Decimal] = mapped_column(Dec)
    contributed: Mapped[Decimal] = mapped_column(Dec)
    high_water: Mapped[Decimal] = mapped_column(Dec)
