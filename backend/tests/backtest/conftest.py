"""Fixtures of the backtest tests: an app whose QT_REPLAY_DIR is a small recorded market."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend.tests.backtest.factories import BACKTEST_ENV, write_market
from backend.tests.conftest import SettingsFactory


@pytest.fixture
def backtest_client(make_settings: SettingsFactory, client_for: Callable[[Any], Any], tmp_path: Path) -> Any:
    """A started app (TestClient) over write_market's 40 hourly bars of four symbols."""
    folder = write_market(tmp_path / "market", bars=40)
    sections: dict[str, dict[str, Any]] = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    sections["market"] = {"QT_REPLAY_DIR": str(folder)}
    return client_for(make_settings(**sections))
