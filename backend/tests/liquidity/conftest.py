"""Liquidity test fixtures: settings with a leader-lock key of their own per test.

An app started with QUANTUM_TRADER_DISABLE_SCHEDULER=1 never calls the runner's shutdown, so on
PostgreSQL the advisory lock a manual run took stays held by its connection after the app closes;
the next app in the same database would then see itself as a follower. A key per test keeps the
tests independent of that, and ``client_for`` shuts each runner down (releasing the lock) before the
app closes (reported to the lead).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config.settings import Settings

_KEYS = itertools.count(900_000_000 + os.getpid() % 10_000 * 1000)


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    key = str(next(_KEYS))

    def factory(**sections: dict[str, Any]) -> Settings:
        scheduler = {"QT_SCHEDULER_LEADER_LOCK_KEY": key, **sections.pop("scheduler", {})}
        return make_settings(scheduler={"QUANTUM_TRADER_DISABLE_SCHEDULER": True, **scheduler}, **sections)

    return factory


@pytest.fixture
def client_for(client_for: Callable[[Settings], Any]) -> Iterator[Callable[[Settings], Any]]:
    started: list[Any] = []

    def start(settings: Settings) -> Any:
        client = client_for(settings)
        started.append(client)
        return client

    yield start
    for client in started:
        if getattr(client, "portal", None) is not None:  # still running
            client.portal.call(client.app.state.ctx.runner.shutdown)
