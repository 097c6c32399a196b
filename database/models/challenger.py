"""Retraining cycles (champion and challenger) and a shadowing challenger's predictions on live bars."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base


class ModelRetrainCycle(Base):
    """One scheduled retraining: training -> rejected | failed | shadowing -> promoted | kept | cancelled."""

    __tablename__ = "model_retrain_cycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(index=True)  # the service clock when it was started
    finished_at: Mapped[datetime | None]  # decided (or failed)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("model_training_runs.id"), index=True)
    challenger_version: Mapped[str | None] = mapped_column(String(64))
    champion_version: Mapped[str | None] = mapped_column(String(64))  # active when the cycle started
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    shadow_after: Mapped[datetime | None]  # bars opening after this (the training data's end) are shadowed
    shadow_bars: Mapped[int | None] = mapped_column(Integer)  # QT_MODEL_SHADOW_BARS when shadowing began
    reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the comparison on live bars
    steps: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # every transition: time, status, reason


class ModelShadowPrediction(Base):
    """What the champion and the challenger said at one live bar of one symbol, and what followed."""

    __tablename__ = "model_shadow_predictions"
    __table_args__ = (UniqueConstraint("cycle_id", "symbol", "open_time", name="uq_model_shadow_predictions_bar"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("model_retrain_cycles.id"), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    open_time: Mapped[datetime]
    recorded_at: Mapped[datetime]
    close: Mapped[float] = mapped_column(Float)
    champion_version: Mapped[str | None] = mapped_column(String(64))
    # probabilities in CLASSES order (SELL, HOLD, BUY); the champion's are absent without one
    champion_proba: Mapped[list[float] | None] = mapped_column(JSON)
    challenger_proba: Mapped[list[float]] = mapped_column(JSON)
    forward_return: Mapped[float | None] = mapped_column(Float)  # close[t+h] / close[t] - 1, once known
    label: Mapped[int | None] = mapped_column(Integer)
