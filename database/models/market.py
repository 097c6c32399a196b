"""Tables of the market domain: klines (bars) keyed by (source, symbol, interval, open_time)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base
from database.models.execution import DecimalString

Dec = DecimalString()


class Kline(Base):
    """One closed bar from one market source; prices and volumes as exact decimal strings."""

    __tablename__ = "klines"
    __table_args__ = (Index("ix_klines_symbol_interval_open_time", "symbol", "interval", "open_time"),)

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval: Mapped[str] = mapped_column(String(8), primary_key=True)
    open_time: Mapped[datetime] = mapped_column(primary_key=True)
    close_time: Mapped[datetime]
    open: Mapped[Decimal] = mapped_column(Dec)
    high: Mapped[Decimal] = mapped_column(Dec)
    low: Mapped[Decimal] = mapped_column(Dec)
    close: Mapped[Decimal] = mapped_column(Dec)
    volume: Mapped[Decimal] = mapped_column(Dec)
    quote_volume: Mapped[Decimal] = mapped_column(Dec)
    trade_count: Mapped[int] = mapped_column(Integer, default=0)
    fetched_at: Mapped[datetime]


KlineRow = Kline
