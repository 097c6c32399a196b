"""The CLI: --out files an operator can read offline, the summary table, exit status 0/1/2."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from backend.backtest.cli import main
from backend.backtest.coverage import STALE
from backend.tests.backtest.factories import set_backtest_env, store_klines, write_market

ARGS = ["--start", "2025-01-02", "--end", "2025-01-03T12:00", "--quiet"]


def external_references(page: str) -> list[str]:
    """src/href attributes of the page's tags: a page readable offline has none pointing out."""
    found: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(f"{tag} {v}" for k, v in attrs if k in ("src", "href") and v and not v.startswith("#"))

    Parser().feed(page)
    return found


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_backtest_env(monkeypatch, tmp_path)


def test_out_holds_metrics_equity_orders_fills_and_a_self_contained_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_market(tmp_path / "m")
    out = tmp_path / "out"
    assert main(["--source", f"replay:{folder}", *ARGS, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "strategy" in printed
    assert "hold_first" in printed
    assert "candles/s" in printed
    content = json.loads((out / "metrics.json").read_text())
    assert content["bars"] == 37
    assert content["interval"] == "1h"
    assert set(content["metrics"]) == {"strategy", "equal_weight", "liquidity_only", "hold_first"}
    for m in content["metrics"].values():
        for key in (
            "total_return",
            "cagr",
            "volatility",
            "sharpe",
            "sortino",
            "max_drawdown",
            "max_drawdown_days",
            "turnover",
            "fees",
            "orders",
            "exposure_avg",
            "symbol_pnl",
        ):
            assert key in m
    with (out / "equity.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) == {"book", "time", "equity", "cash", "gross_exposure", "drawdown"}
    assert len(rows) == 4 * 38  # every book: the all-cash start and one row per bar
    with (out / "orders.csv").open() as handle:
        orders = list(csv.DictReader(handle))
    assert {o["status"] for o in orders} >= {"FILLED", "SKIPPED"}
    assert all(o["reason"] for o in orders if o["status"] == "SKIPPED")
    with (out / "fills.csv").open() as handle:
        fills = list(csv.DictReader(handle))
    assert fills
    assert {"price", "quantity", "fee", "fee_quote"} <= set(fills[0])
    report = (out / "report.html").read_text()
    assert external_references(report) == []
    assert "Monthly returns" in report
    assert "Per-symbol contribution" in report
    assert "Drawdown" in report


def test_unreadable_data_exits_2_and_a_bad_source_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source", f"replay:{tmp_path / 'missing'}", *ARGS]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--source", "ftp://x", *ARGS]) == 2
    assert "is not one of" in capsys.readouterr().err


def test_database_source_replays_the_stored_klines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_klines(write_market(tmp_path / "m", bars=48), database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "out"
    args = ["--start", "2025-01-02", "--end", "2025-01-02T12:00", "--quiet", "--baselines", "none"]
    assert main(["--source", "database:binance", *args, "--out", str(out)]) == 0
    content = json.loads((out / "metrics.json").read_text())
    assert content["data"] == "database:binance"
    assert content["bars"] == 13
    assert content["metrics"]["strategy"]["fills"] > 0
    assert main(["--source", "database:nothing", *args]) == 2
    assert "holds no 1h klines" in capsys.readouterr().err


def test_holes_in_the_data_are_said_in_metrics_the_report_and_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recorded symbol missing bars (an outage) or ending before the range is traded and valued
    through it as the live service would: the run says so, once per hole."""
    folder = write_market(tmp_path / "m")
    lines = (folder / "BBBUSDT.csv").read_text().splitlines()
    del lines[30:33]  # three hours missing: bars 29, 30 and 31 (line 0 is the header)
    (folder / "BBBUSDT.csv").write_text("\n".join(lines) + "\n")
    lines = (folder / "CCCUSDT.csv").read_text().splitlines()
    (folder / "CCCUSDT.csv").write_text("\n".join(lines[:-20]) + "\n")  # ends at 03:00 on the run's last day
    out = tmp_path / "out"
    assert main(["--source", f"replay:{folder}", *ARGS, "--out", str(out)]) == 0
    warnings = json.loads((out / "metrics.json").read_text())["warnings"]
    assert warnings == [
        "BBBUSDT: 3 of 37 bars missing inside the range (the longest gap 3.0 h from 2025-01-02T05:00:00Z):"
        f" through a gap it is {STALE}",
        "CCCUSDT: its last bar opens at 2025-01-03T03:00:00Z, 8.0 h before the run's last"
        f" (2025-01-03T11:00:00Z): after it, it is {STALE}",
    ]
    stderr = capsys.readouterr().err
    assert [line.removeprefix("warning: ") for line in stderr.splitlines() if line.startswith("warning: ")] == warnings
    page = (out / "report.html").read_text()
    assert "BBBUSDT: 3 of 37 bars missing" in page
    assert "CCCUSDT: its last bar opens at 2025-01-03T03:00:00Z" in page
    whole = tmp_path / "whole"
    assert main(["--source", f"replay:{write_market(tmp_path / 'w')}", *ARGS, "--out", str(whole)]) == 0
    assert json.loads((whole / "metrics.json").read_text())["warnings"] == []
    page = (whole / "report.html").read_text()
    assert "No symbol misses a bar of the range, and every universe refresh selected." in page
