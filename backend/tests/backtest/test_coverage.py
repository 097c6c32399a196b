"""Holes in a run's data, each said once: a symbol starting late, ending early, missing bars, or absent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from backend.backtest.coverage import STALE, coverage_warnings
from backend.backtest.data import open_replay, open_simulated
from backend.backtest.engine import BacktestConfig, plan_times
from backend.tests.backtest.factories import START, write_market


def _keep(folder: Path, symbol: str, hours: range) -> None:
    """Keep only these hours (bar indexes) of the symbol's file."""
    header, *bars = (folder / f"{symbol}.csv").read_text().splitlines()
    (folder / f"{symbol}.csv").write_text("\n".join([header, *(bars[i] for i in hours)]) + "\n")


def test_each_kind_of_hole_is_one_line_and_the_simulated_market_has_none(tmp_path: Path) -> None:
    folder = write_market(tmp_path / "m", bars=72, symbols=("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT"))
    _keep(folder, "AAAUSDT", range(40, 72))  # listed inside the range: nothing shown before
    _keep(folder, "BBBUSDT", range(50, 72))  # no bar before the range, none inside: never seen
    _keep(folder, "CCCUSDT", [*range(0, 10), *range(30, 72)])  # seen before the range, then a hole
    _keep(folder, "DDDUSDT", range(0, 10))  # delisted before the range
    data = open_replay(folder, lambda: START)
    times = plan_times(BacktestConfig(start=START + timedelta(days=1), end=START + timedelta(days=2)), data)
    assert coverage_warnings(data, times, ["AAAUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT"]) == [
        "AAAUSDT: its first bar in the range opens at 2025-01-02T16:00:00Z, 17.0 h after the run's first"
        " (2025-01-01T23:00:00Z): not tradable before",
        "CCCUSDT: its first bar in the range opens at 2025-01-02T06:00:00Z, 7.0 h after the run's first, its last"
        f" before at 2025-01-01T09:00:00Z: until then it is {STALE}",
        "DDDUSDT: no bar between 2025-01-01T23:00:00Z and 2025-01-02T23:00:00Z, its last opens at"
        f" 2025-01-01T09:00:00Z: through the range it is {STALE}",
    ]
    short = plan_times(BacktestConfig(start=START + timedelta(days=1), end=START + timedelta(hours=40)), data)
    assert coverage_warnings(data, short, ["BBBUSDT"]) == [
        "BBBUSDT: no bar between 2025-01-01T23:00:00Z and 2025-01-02T15:00:00Z: never traded nor valued"
    ]
    assert coverage_warnings(data, times, ["EEEUSDT"]) == []
    assert coverage_warnings(open_simulated(lambda: START), times, ["BTCUSDT"]) == []
