"""The market-cache-refresh job's universe lookup tolerates whatever the liquidity service offers."""

from __future__ import annotations

from typing import Any

import pytest

from backend.scheduler.jobs.market import universe_symbols


class Ctx:
    def __init__(self, liquidity: Any = None) -> None:
        self.services: dict[str, Any] = {} if liquidity is None else {"liquidity": liquidity}


class SyncUniverse:
    def current_symbols(self) -> list[str]:
        return ["ADAUSDT"]


class AsyncUniverse:
    async def current_symbols(self) -> list[str]:
        return ["DOTUSDT"]


class BrokenUniverse:
    def current_symbols(self) -> list[str]:
        raise RuntimeError("no run yet")


class NoUniverse:
    pass


@pytest.mark.parametrize(
    ("liquidity", "expected"),
    [
        (None, []),
        (NoUniverse(), []),
        (SyncUniverse(), ["ADAUSDT"]),
        (AsyncUniverse(), ["DOTUSDT"]),
        (BrokenUniverse(), []),
    ],
)
async def test_universe_symbols(liquidity: Any, expected: list[str]) -> None:
    assert await universe_symbols(Ctx(liquidity)) == expected  # type: ignore[arg-type]
