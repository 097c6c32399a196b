"""backend/scripts/data_pipeline.py: hydration, re-runs that change nothing, and a --dry-run that writes nothing."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from backend.scripts.data_pipeline import run
from backend.tests.conftest import SettingsFactory
from backend.tests.market.conftest import FrozenClock
from database.models.market import Kline as KlineRow
from database.session import make_engine

REPO = Path(__file__).resolve().parents[3]


def _rows(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(KlineRow)) or 0)
    finally:
        engine.dispose()


def _pipeline(settings: object, *args: str, clock: FrozenClock | None = None) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(args), clock=clock or FrozenClock(), settings=settings, out=out, err=err)  # type: ignore[arg-type]
    return code, out.getvalue() + err.getvalue()


def test_hydrates_then_a_rerun_is_a_no_op(make_settings: SettingsFactory, database_url: str) -> None:
    settings = make_settings()
    code, output = _pipeline(settings, "--symbols", "BTCUSDT,ETHUSDT", "--interval", "1h", "--days", "10")
    assert code == 0
    assert "rows fetched: 478, new: 478, changed: 0, unchanged: 0, gaps found: 0" in output
    assert _rows(database_url) == 478
    code, output = _pipeline(settings, "--symbols", "BTCUSDT,ETHUSDT", "--interval", "1h", "--days", "10")
    assert code == 0
    assert "rows fetched: 478, new: 0, changed: 0, unchanged: 478" in output
    assert _rows(database_url) == 478


def test_later_runs_add_only_the_new_bars(make_settings: SettingsFactory, database_url: str) -> None:
    settings = make_settings()
    clock = FrozenClock()
    _pipeline(settings, "--symbols", "BTCUSDT", "--days", "2", clock=clock)
    clock.advance(hours=3)
    code, output = _pipeline(settings, "--symbols", "BTCUSDT", "--days", "2", clock=clock)
    assert code == 0
    assert "new: 3, changed: 0, unchanged: 44" in output


def test_unknown_symbols_are_reported_and_the_others_processed(
    make_settings: SettingsFactory, database_url: str
) -> None:
    code, output = _pipeline(make_settings(), "--symbols", "NOPEUSDT,BTCUSDT", "--days", "1")
    assert code == 1
    assert "unknown symbol NOPEUSDT" in output
    assert _rows(database_url) == 23


def test_dry_run_reports_the_same_and_writes_nothing(make_settings: SettingsFactory, database_url: str) -> None:
    settings = make_settings()
    _pipeline(settings, "--symbols", "BTCUSDT", "--days", "3")
    code, output = _pipeline(settings, "--symbols", "BTCUSDT,ETHUSDT", "--days", "3", "--dry-run")
    assert code == 0
    assert "dry run (nothing written)" in output
    assert "rows fetched: 142, new: 71, changed: 0, unchanged: 71" in output
    assert _rows(database_url) == 71


def _snapshot(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_dry_run_leaves_a_sqlite_database_byte_for_byte_unchanged(
    make_settings: SettingsFactory, sqlite_url: str
) -> None:
    settings = make_settings(database={"DATABASE_URL": sqlite_url})
    _pipeline(settings, "--symbols", "BTCUSDT", "--days", "2")
    directory = Path(make_url(sqlite_url).database or "").parent
    before = _snapshot(directory)
    code, output = _pipeline(settings, "--symbols", "BTCUSDT,ETHUSDT", "--days", "4", "--dry-run")
    assert code == 0
    assert "rows fetched: 190, new: 143, changed: 0, unchanged: 47" in output  # it did read and compare
    assert _snapshot(directory) == before  # same files, same bytes: no -wal/-shm left either


@pytest.mark.parametrize(("args", "message"), [(["--interval", "7m"], "--interval"), (["--days", "0"], "--days")])
def test_bad_arguments_are_configuration_errors(make_settings: SettingsFactory, args: list[str], message: str) -> None:
    code, output = _pipeline(make_settings(), *args)
    assert code == 2
    assert f"configuration error: {message}" in output


def test_runs_as_a_script_with_the_environment(sqlite_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": sqlite_url,
        "QT_SIM_SEED": "5",
        "QT_ADMIN_AUDIT_PATH": str(tmp_path / "audit.log"),
    }
    args = [sys.executable, str(REPO / "backend/scripts/data_pipeline.py"), "--symbols", "SOLUSDT", "--days", "1"]
    done = subprocess.run([*args, "--dry-run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "source=simulated interval=1h" in done.stdout
    assert _rows(sqlite_url) == 0
