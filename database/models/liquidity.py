"""Tables of the liquidity domain: one row per universe refresh and one per selected symbol."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from database.base import Base
from database.models.execution import DecimalString


class LiquidityRun(Base):
    """One refresh of the universe: counts, analytics, and why every excluded symbol was excluded."""

    __tablename__ = "liquidity_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16))  # ok | degraded
    market_source: Mapped[str] = mapped_column(String(32))
    data_taken_at: Mapped[datetime | None]
    model_version: Mapped[str | None] = mapped_column(String(64))
    blend_mode: Mapped[str] = mapped_column(String(16))  # blended | liquidity_only
    universe_size: Mapped[int] = mapped_column(Integer)
    eligible_count: Mapped[int] = mapped_column(Integer)
    selected_count: Mapped[int] = mapped_column(Integer)
    duration_seconds: Mapped[float] = mapped_column(Float)
    problems: Mapped[dict[str, str]] = mapped_column(JSON)
    analytics: Mapped[dict[str, Any]] = mapped_column(JSON)
    # symbol -> {"filter": name, "reason": text} for every symbol the filter chain removed
    exclusions: Mapped[dict[str, Any]] = mapped_column(JSON)

    selections: Mapped[list[LiquiditySelection]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="LiquiditySelection.rank"
    )


class LiquiditySelection(Base):
    """One selected symbol of a run with its weight and the scores that produced it."""

    __tablename__ = "liquidity_selections"
    __table_args__ = (UniqueConstraint("run_id", "symbol", name="uq_liquidity_selections_run_id_symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("liquidity_runs.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(32))
    base_asset: Mapped[str] = mapped_column(String(32))
    weight: Mapped[Decimal] = mapped_column(DecimalString())
    liquidity_score: Mapped[float] = mapped_column(Float)
    liquidity_component: Mapped[float] = mapped_column(Float)
    model_score: Mapped[float | None] = mapped_column(Float)
    blended_score: Mapped[float] = mapped_column(Float)
    model_action: Mapped[str | None] = mapped_column(String(8))
    model_confidence: Mapped[float | None] = mapped_column(Float)
    strong_sell: Mapped[bool] = mapped_column(default=False)

    run: Mapped[LiquidityRun] = relationship(back_populates="selections")
