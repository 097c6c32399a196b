"""The CLI's checks: bad input is one line and exit 2 before any work; a failed write is one line, exit 1."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from backend.backtest.cli import main
from backend.tests.backtest.factories import set_backtest_env, store_klines, write_market

ROOT = Path(__file__).resolve().parents[3]
ARGS = ["--start", "2025-01-02", "--end", "2025-01-03T12:00", "--quiet"]
SHORT = ["--start", "2025-01-02", "--end", "2025-01-02T04:00", "--quiet", "--baselines", "none"]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_backtest_env(monkeypatch, tmp_path)
    monkeypatch.setenv("QT_AUTO_MIGRATE", "0")
    monkeypatch.delenv("QT_REPLAY_SPREAD_BPS", raising=False)


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """stderr, which must be exactly one line; stdout must be empty (nothing ran)."""
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


# 1. --out is created and probed before the run; a write that fails after it is one line, exit 1


@pytest.mark.parametrize("kind", ["an existing file", "under a file", "under /proc"])
@pytest.mark.parametrize("command", ["run", "compare-live"])
def test_out_that_cannot_be_written_exits_2_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kind: str, command: str
) -> None:
    if kind == "under /proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = {"an existing file": afile, "under a file": afile / "out", "under /proc": Path("/proc/nope")}[kind]
    db = tmp_path / "never.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")  # compare-live would be refused for it, but later
    if command == "run":
        argv = ["--source", f"replay:{write_market(tmp_path / 'm')}", *ARGS, "--out", str(out)]
    else:
        argv = ["--compare-live", "--start", "2025-01-02", "--end", "2025-01-03", "--out", str(out)]
    assert main(argv) == 2
    line = one_line(capsys)  # nothing on stdout: no summary table, the run never started
    assert line.startswith("backtest: argument --out: ")
    assert str(out) in line
    assert "Traceback" not in line
    assert afile.read_text() == "x"
    assert not db.exists()


def test_a_write_into_out_that_fails_after_the_run_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "metrics.json").mkdir(parents=True)  # the folder is writable; the file cannot be written
    assert main(["--source", f"replay:{write_market(tmp_path / 'm')}", *ARGS, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "strategy" in captured.out  # the run's table is still shown
    errors = [line for line in captured.err.splitlines() if not line.startswith("warning: ")]
    assert errors == [f"backtest: cannot write the files into --out {out}: Is a directory ({out / 'metrics.json'})"]


def test_a_drift_json_that_cannot_be_written_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """The drift replay itself is stood in for (recording a live period is test_drift's): what is
    tested is the CLI's write of its report."""
    import backend.backtest.drift as drift

    start, end = datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 3, tzinfo=UTC)
    monkeypatch.setattr(drift, "compare_live", lambda *_: drift.DriftReport(start=start, end=end, cycles=1))
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "out"
    (out / "drift.json").mkdir(parents=True)
    argv = ["--compare-live", "--start", start.isoformat(), "--end", end.isoformat(), "--out", str(out)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("compare-live ")
    assert captured.err.splitlines() == [f"backtest: cannot write drift.json into --out {out}: Is a directory"]


# 2. a replay path that is not a folder of SYMBOL.csv files is bad input; bad file content is a data problem


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing", "does not exist"),
        ("", "replay: names no folder"),
        ("afile", "is not a directory"),
        ("empty", "holds no SYMBOL.csv files"),
    ],
)
def test_a_replay_path_that_is_not_a_folder_of_csv_files_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, path: str, message: str
) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")  # an empty path is not read as the working directory
    where = str(tmp_path / path) if path else ""
    assert main(["--source", f"replay:{where}", *ARGS]) == 2
    line = one_line(capsys)
    assert line.startswith("backtest: argument --source: ")
    assert message in line
    assert "SYMBOL.csv" in line


def test_a_replay_file_with_bad_content_is_still_a_data_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_market(tmp_path / "m")
    (folder / "BBBUSDT.csv").write_text("open_time,open,high,low,close,volume\nnot,a,bar,at,all,!\n")
    assert main(["--source", f"replay:{folder}", *ARGS]) == 1
    line = one_line(capsys)
    assert line.startswith("backtest: data problem: ")
    assert "BBBUSDT.csv" in line


# 3. DATABASE_URL at the migrations' head before a run reads it; runs that do not read it never open it

READS_DATABASE = {
    "model VERSION": ["--model", "v999"],
    "database source": ["--source", "database"],
    "compare-live": ["--compare-live"],
}


@pytest.mark.parametrize("reader", list(READS_DATABASE))
def test_a_missing_sqlite_database_exits_2_naming_it_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    db = tmp_path / "x.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    source = [] if reader != "model VERSION" else ["--source", f"replay:{write_market(tmp_path / 'm')}"]
    assert main([*source, *READS_DATABASE[reader], *ARGS]) == 2
    line = one_line(capsys)
    assert line == (
        f"backtest: DATABASE_URL: SQLite file {db} does not exist: "
        "run make migrate (or: .venv/bin/alembic upgrade head), or set QT_AUTO_MIGRATE=1"
    )
    assert not db.exists()


@pytest.mark.parametrize("reader", list(READS_DATABASE))
def test_a_never_migrated_sqlite_database_exits_2_naming_it_and_the_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    source = [] if reader != "model VERSION" else ["--source", f"replay:{write_market(tmp_path / 'm')}"]
    assert main([*source, *READS_DATABASE[reader], *ARGS]) == 2
    line = one_line(capsys)
    assert str(db) in line
    assert "was never migrated" in line
    assert "make migrate" in line
    assert sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall() == []


@pytest.mark.postgres
def test_a_never_migrated_postgresql_database_exits_2_naming_the_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.tests.conftest import _pg_base_url, private_pg_database

    if _pg_base_url() is None:
        pytest.skip("QT_TEST_DATABASE_URL is not set")
    with private_pg_database("qt_bt_cli") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        for reader in READS_DATABASE:
            source = [] if reader != "model VERSION" else ["--source", f"replay:{write_market(tmp_path / 'm')}"]
            assert main([*source, *READS_DATABASE[reader], *ARGS]) == 2, reader
            line = one_line(capsys)
            assert "was never migrated" in line
            assert "make migrate" in line


def test_auto_migrate_migrates_a_missing_sqlite_database_first_as_the_service_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "fresh.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("QT_AUTO_MIGRATE", "1")
    assert main(["--source", "database", *ARGS]) == 2
    assert "holds no 1h klines" in capsys.readouterr().err  # migrated, and empty
    assert ("alembic_version",) in sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall()


@pytest.mark.parametrize("model", ["none", "walk-forward"])
def test_replay_runs_without_a_recorded_model_never_open_database_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    db = tmp_path / "absent.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    assert main(["--source", f"replay:{write_market(tmp_path / 'm')}", *SHORT, "--model", model]) == 0
    assert "strategy" in capsys.readouterr().out
    assert not db.exists()


# 4 and 5. the API's bounds (backend/backtest/request.py) on --seed, --slippage and --fee-bps


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed", "-1"], "--seed must be a non-negative integer, at most 2147483647 (got -1)"),
        (["--seed", str(2**31)], "--seed must be a non-negative integer, at most 2147483647 (got 2147483648)"),
        (["--slippage", "1e9"], "--slippage must be 'book' or between 0 and 1000 bps"),
        (["--slippage", "1000.01"], "--slippage must be 'book' or between 0 and 1000 bps"),
        (["--fee-bps", "1001"], "--fee-bps must be between 0 and 1000 bps"),
        (["--market-bars", "0"], "--market-bars must be at least 1 bar"),
        (["--liquidity-bars", "-1"], "--liquidity-bars must be at least 1 bar"),
        (["--rebalance-bars", "0"], "--rebalance-bars must be at least 1 bar"),
        # and the run's own input (these were in test_cli.py)
        (["--symbols", "NOPEUSDT"], "unknown symbol NOPEUSDT"),
        (["--interval", "5m"], "does not match"),
        (["--interval", "7m"], "unsupported interval"),
        (["--end", "2025-02-01"], "is not covered"),
        (["--end", "2025-01-01T12:00"], "empty range"),
    ],
)
def test_bad_input_and_numbers_outside_the_apis_bounds_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["--source", f"replay:{write_market(tmp_path / 'm')}", *ARGS, *extra]) == 2
    assert message in one_line(capsys)


def test_the_cli_bounds_are_the_apis() -> None:
    from pydantic import ValidationError

    from backend.backtest.request import MAX_BPS, MAX_SEED, BacktestRequest

    assert (MAX_BPS, MAX_SEED) == (1000, 2**31 - 1)
    end = datetime(2024, 2, 1, tzinfo=UTC)
    BacktestRequest(end=end, seed=MAX_SEED, fee_bps=Decimal(MAX_BPS), slippage=Decimal(MAX_BPS))
    for name, bad in (("seed", MAX_SEED + 1), ("fee_bps", MAX_BPS + 1), ("slippage", Decimal(MAX_BPS + 1))):
        with pytest.raises(ValidationError, match=name):
            BacktestRequest.model_validate({"end": end, name: bad})


# 6. QT_REPLAY_SPREAD_BPS applies to the CLI's replay source, as in the service


def _first_fill_half_spread_bps(out: Path) -> float:
    """The first fill (a buy at the top of the replay book) against its reference price (the mid), in bps."""
    with (out / "fills.csv").open() as handle:
        fill = next(csv.DictReader(handle))
    with (out / "orders.csv").open() as handle:
        order = next(o for o in csv.DictReader(handle) if o["client_order_id"] == fill["client_order_id"])
    assert fill["side"] == "BUY"
    return (float(fill["price"]) / float(order["reference_price"]) - 1) * 10_000


def test_qt_replay_spread_bps_sets_the_replay_books_spread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_market(tmp_path / "m")
    assert main(["--source", f"replay:{folder}", *SHORT, "--out", str(tmp_path / "default")]) == 0
    monkeypatch.setenv("QT_REPLAY_SPREAD_BPS", "20")
    assert main(["--source", f"replay:{folder}", *SHORT, "--out", str(tmp_path / "wide")]) == 0
    assert _first_fill_half_spread_bps(tmp_path / "default") == pytest.approx(2.5, abs=0.05)  # the default 5 bps
    assert _first_fill_half_spread_bps(tmp_path / "wide") == pytest.approx(10.0, abs=0.05)


def test_qt_replay_spread_bps_sets_the_spread_of_the_database_source_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    store_klines(write_market(tmp_path / "m", bars=48), database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("QT_REPLAY_SPREAD_BPS", "20")
    assert main(["--source", "database:binance", *SHORT, "--out", str(tmp_path / "out")]) == 0
    assert _first_fill_half_spread_bps(tmp_path / "out") == pytest.approx(10.0, abs=0.05)


# 7. a usage error is one line, not the usage block


def test_a_usage_error_is_one_line_from_the_real_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "backend.backtest", "--start", "2024-13-01"],
        cwd=ROOT,
        env={**os.environ, "QT_RISK_STATE_DB": str(tmp_path / "risk.db")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "backtest: argument --start: '2024-13-01' is not an ISO date or time (e.g. 2024-03-01) (see --help)"
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cash", "abc"], "argument --cash: 'abc' is not a number"),
        (["--slippage", "abc"], "argument --slippage: 'abc' is neither 'book' nor a non-negative number of bps"),
        (["--end", "tomorrow"], "argument --end: 'tomorrow' is not an ISO date"),
        (["--seed"], "argument --seed: expected one argument"),
        (["--nope"], "unrecognized arguments: --nope"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["--source", "simulated", *extra]) == 2
    line = one_line(capsys)
    assert line.startswith(f"backtest: {message}")
    assert line.endswith(" (see --help)")


def test_help_still_prints_the_usage_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--source" in capsys.readouterr().out


# 8. the summary table shows a quote amount with the quote asset's precision


def test_the_summary_tables_fees_keep_a_btc_quoted_runs_precision() -> None:
    from backend.backtest.cli import quote_amount, summary_table

    assert quote_amount(0.00213456) == "0.00213456"  # BTC: down to the satoshi
    assert quote_amount(0.0021) == "0.0021"
    assert quote_amount(0.000000004) == "4e-09"  # a fee below a satoshi is not shown as none
    assert quote_amount(10.946712) == "10.9467"  # USDT-size: six significant digits
    assert quote_amount(1234.5678) == "1,234.57"
    assert quote_amount(123456789.4) == "123,456,789"
    assert quote_amount(0.0) == "0"
    row = {"total_return": 0.1, "cagr": None, "sharpe": 1.5, "max_drawdown": 0.05, "orders": 519}
    table = summary_table({"metrics": {"strategy": {**row, "fees": 0.00213456}, "hold_first": {**row, "fees": 1234.5}}})
    assert "0.00213456" in table.splitlines()[1]
    assert "1,234.5" in table.splitlines()[2]


def test_a_usage_error_after_out_leaves_no_folder_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --out was created while argparse read it, before a later flag's error stopped the run
    out = tmp_path / "never"
    assert main(["--out", str(out), "--start", "2024-13-01"]) == 2
    assert one_line(capsys).startswith("backtest: argument --start: ")
    assert not out.exists()
