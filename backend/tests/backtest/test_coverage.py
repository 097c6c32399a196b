"""Holes in a run's data, each said once: a symbol starting late, ending early, missing bars, or absent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from backend.backtest.coverage import coverage_warnings
from backend.backtest.data import open_replay, open_simulated
from backend.backtest.engine import BacktestConfig, plan_times
from backend.tests.backtest.factories import START, write_market


def test_each_kind_of_hole_is_one_line_and_the_simulated_market_has_none(tmp_path: Path) -> None:
    folder = write_market(tmp_path / "m", bars=72)
    late = (folder / "AAAUSDT.csv").read_text().splitlines()
    (folder / "AAAUSDT.csv").write_text("\n".join([late[0], *late[41:]]) + "\n")  # from hour 40 on
    gone = (folder / "DDDUSDT.csv").read_text().splitlines()
    (folder / "DDDUSDT.csv").write_text("\n".join(gone[:11]) + "\n")  # hours 0..9 only
    data = open_replay(folder, lambda: START)
    times = plan_times(BacktestConfig(start=START + timedelta(days=1), end=START + timedelta(days=2)), data)
    assert coverage_warnings(data, times, ["AAAUSDT", "BBBUSDT", "DDDUSDT"]) == [
        "AAAUSDT: its first bar in the range opens at 2025-01-02T16:00:00Z, 17.0 h after the run's first"
        " (2025-01-01T23:00:00Z): not tradable before",
        "DDDUSDT: no bar between 2025-01-01T23:00:00Z and 2025-01-02T23:00:00Z: never traded nor valued",
    ]
    assert coverage_warnings(data, times, ["BBBUSDT", "CCCUSDT"]) == []
    simulated = open_simulated(lambda: START)
    assert coverage_warnings(simulated, times, ["BTCUSDT"]) == []
