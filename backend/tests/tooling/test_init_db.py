"""database/init_db.py as an operator runs it: create/upgrade, and --check on healthy and damaged databases."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend.tests.tooling.conftest import REPO_ROOT, run_script
from database.migrate import head_revision, upgrade

INIT_DB = REPO_ROOT / "database" / "init_db.py"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_without_flags_creates_a_new_sqlite_database_at_head(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "fresh.db"
    result = run_script([INIT_DB], env={"DATABASE_URL": f"sqlite:///{path}"})
    assert result.returncode == 0, result.stderr
    assert f"is at revision {head_revision()} (head)" in result.stdout
    check = run_script([INIT_DB, "--check", "--url", f"sqlite:///{path}"])
    assert check.returncode == 0, check.stdout
    assert "database ok" in check.stdout


def test_without_flags_upgrades_an_old_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    assert run_script([INIT_DB, "--check", "--url", url]).returncode == 1
    result = run_script([INIT_DB, "--url", url])
    assert result.returncode == 0, result.stderr
    assert run_script([INIT_DB, "--check", "--url", url]).returncode == 0


def test_check_passes_on_a_migrated_database(database_url: str) -> None:
    result = run_script([INIT_DB, "--check", "--url", database_url])
    assert result.returncode == 0, result.stdout
    assert f"revision: {head_revision()} (head)" in result.stdout
    assert "tables: all" in result.stdout
    if database_url.startswith("sqlite"):
        assert "integrity: PRAGMA integrity_check ok" in result.stdout
    else:
        assert "round trip: ok" in result.stdout


def test_check_reads_the_url_from_the_settings(sqlite_url: str) -> None:
    result = run_script([INIT_DB, "--check"], env={"DATABASE_URL": sqlite_url})
    assert result.returncode == 0, result.stdout
    assert make_url(sqlite_url).database in result.stdout


def test_check_never_modifies_the_database_file(sqlite_url: str) -> None:
    path = Path(str(make_url(sqlite_url).database))
    before = sha256(path)
    assert run_script([INIT_DB, "--check", "--url", sqlite_url]).returncode == 0
    assert sha256(path) == before


def _corrupt_table_page(path: Path, table: str) -> None:
    """Overwrite the b-tree header of a table's root page: the kind of damage a torn write leaves."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"INSERT INTO {table} (name, value, updated_at, updated_by) VALUES ('x', '1', '2026-01-01', 't')")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        conn.execute("PRAGMA journal_mode=DELETE")  # folds the WAL into the file
    finally:
        conn.close()
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * 16)


def test_check_reports_a_corrupted_sqlite_file_and_exits_1(sqlite_url: str) -> None:
    path = Path(str(make_url(sqlite_url).database))
    _corrupt_table_page(path, "runtime_settings")
    result = run_script([INIT_DB, "--check", "--url", sqlite_url])
    assert result.returncode == 1, result.stdout
    assert "FAIL  integrity:" in result.stdout
    assert "malformed" in result.stdout


def test_check_reports_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 300)
    result = run_script([INIT_DB, "--check", "--url", f"sqlite:///{path}"])
    assert result.returncode == 1
    assert "file is not a database" in result.stdout


def test_check_lists_every_problem_of_a_stale_schema(sqlite_url: str) -> None:
    path = Path(str(make_url(sqlite_url).database))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TABLE runtime_settings")
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    finally:
        conn.close()
    result = run_script([INIT_DB, "--check", "--url", sqlite_url])
    assert result.returncode == 1
    assert f"FAIL  revision: 0001, head is {head_revision()}" in result.stdout
    assert "FAIL  tables: missing runtime_settings" in result.stdout
    assert "2 problem(s) found" in result.stdout


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{tmp}/does-not-exist.db",
        "postgresql+psycopg://postgres@127.0.0.1:1/nothing-listens-here",
    ],
    ids=["missing-sqlite-file", "postgres-port-closed"],
)
def test_check_exits_2_when_unreachable(tmp_path: Path, url: str) -> None:
    result = run_script([INIT_DB, "--check", "--url", url.format(tmp=tmp_path)])
    assert result.returncode == 2, result.stdout
    assert "unreachable" in result.stdout
    assert not (tmp_path / "does-not-exist.db").exists()  # checking never creates the file


def test_invalid_configuration_exits_2_naming_the_variable() -> None:
    result = run_script([INIT_DB, "--check"], env={"QT_DB_BUSY_TIMEOUT_MS": "soon"})
    assert result.returncode == 2
    assert "QT_DB_BUSY_TIMEOUT_MS" in result.stderr


def test_read_only_mode_refuses_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.db"
    result = run_script([INIT_DB], env={"DATABASE_URL": f"sqlite:///{path}", "QT_DATABASE_READ_ONLY": "1"})
    assert result.returncode == 1
    assert "refusing" in result.stderr
    assert not path.exists()


def test_check_detects_a_renamed_table_on_either_database(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE runtime_settings RENAME TO runtime_settings_moved"))
        result = run_script([INIT_DB, "--check", "--url", database_url])
        assert result.returncode == 1
        assert "missing runtime_settings" in result.stdout
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE runtime_settings_moved RENAME TO runtime_settings"))
        engine.dispose()
