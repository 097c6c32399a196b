"""Foundation tables: model training runs and run-time setting overrides."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base


class ModelTrainingRun(Base):
    """One training run of the model: running -> completed | failed."""

    __tablename__ = "model_training_runs"
    # At most one active model, enforced by the database on SQLite and PostgreSQL alike.
    __table_args__ = (
        Index(
            "uq_model_training_runs_one_active",
            "is_active",
            unique=True,
            sqlite_where=text("is_active = 1"),
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | completed | failed
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    dataset: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(default=False)
    activated_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # Refreshed while the run trains; a running row whose heartbeat stopped was interrupted.
    heartbeat_at: Mapped[datetime | None]


class RuntimeSetting(Base):
    """An operator override of a tunable setting, keyed by its environment variable name."""

    __tablename__ = "runtime_settings"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(128))
