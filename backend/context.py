"""Everything the lifespan builds, in one typed object handed to routes (via deps) and jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend.health import HealthProbe
from backend.observability.audit import AuditLog
from backend.observability.metrics import Metrics
from backend.scheduler.runner import JobRunner
from config.runtime import SettingsHolder


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    settings: SettingsHolder
    engine: Engine
    sessions: sessionmaker[Session]
    metrics: Metrics
    audit: AuditLog
    runner: JobRunner
    health: HealthProbe
    started_at: datetime
    read_only: bool = False
    clock: Callable[[], datetime] = utc_now
    # Components register callables returning reasons the service is degraded (empty = fine).
    health_checks: dict[str, Callable[[], list[str]]] = field(default_factory=dict)
    # Domain services, set by their components (backend/components/*).
    services: dict[str, Any] = field(default_factory=dict)
