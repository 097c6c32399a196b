"""Fixtures of the notification tests: a notify service on a migrated database with a settable clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.notify.service import NotifyService
from backend.observability.metrics import Metrics
from config.notify import NotifySettings
from database.session import make_engine, make_session_factory


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))


async def always_leader() -> bool:
    return True


ServiceFactory = Callable[..., NotifyService]


@pytest.fixture
def make_service(database_url: str, clock: FakeClock) -> Iterator[ServiceFactory]:
    """NotifyService(QT_NOTIFY_* values) on the test database; metrics available as service.metrics."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)

    def build(leader: Callable[[], Any] = always_leader, **values: Any) -> NotifyService:
        settings = NotifySettings(_env_file=None, **values)  # type: ignore[call-arg]
        metrics = Metrics()
        service = NotifyService(sessions, lambda: settings, metrics, is_leader=leader, clock=clock)
        service.metrics = metrics  # type: ignore[attr-defined]
        return service

    yield build
    engine.dispose()


def counter(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
