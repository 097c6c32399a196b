"""backend/scripts/alembic_dry_run.py: rehearses the upgrade on a copy; the snapshot never changes."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from backend.tests.tooling.conftest import REPO_ROOT, run_script
from database.migrate import head_revision, upgrade

DRY_RUN = REPO_ROOT / "backend" / "scripts" / "alembic_dry_run.py"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sqlite(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def old_snapshot(tmp_path: Path) -> Path:
    """A snapshot at the first migration holding a row, checkpointed into one file like a backup."""
    path = tmp_path / "backups" / "trades.db"
    path.parent.mkdir()
    upgrade(f"sqlite:///{path}", "0001")
    _sqlite(
        path,
        "INSERT INTO runtime_settings (name, value, updated_at, updated_by) VALUES ('QT_MAX_DAILY_LOSS', '\"250\"', "
        "'2026-01-01 00:00:00', 'operator')",
        "PRAGMA journal_mode=DELETE",
    )
    return path


def test_dry_run_reports_pending_migrations_writes_sql_and_leaves_the_snapshot(
    old_snapshot: Path, tmp_path: Path
) -> None:
    before = sha256(old_snapshot)
    sql = tmp_path / "artifacts" / "alembic-upgrade.sql"
    result = run_script([DRY_RUN, "--snapshot", old_snapshot, "--sql-output", sql])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "current:   0001" in result.stdout
    assert f"head:      {head_revision()}" in result.stdout
    assert "pending:" in result.stdout
    assert "  0002" in result.stdout
    assert "filled by" not in result.stdout  # developers' notes in revision messages are not shown
    assert "  0004  Execution: orders, fills, positions, balances, execution_runs\n" in result.stdout
    assert "upgrade applied to the copy: ok" in result.stdout
    assert "+ table " in result.stdout
    assert "snapshot unchanged (sha256 verified)" in result.stdout
    assert sha256(old_snapshot) == before
    assert sorted(p.name for p in old_snapshot.parent.iterdir()) == ["trades.db"]  # no -wal/-shm left behind
    script = sql.read_text()
    assert "Running upgrade 0001 -> 0002" in script
    assert "CREATE TABLE" in script
    assert f"UPDATE alembic_version SET version_num='{head_revision()}'" in script


def test_the_offline_sql_applies_cleanly_to_a_copy(old_snapshot: Path, tmp_path: Path) -> None:
    sql = tmp_path / "upgrade.sql"
    assert run_script([DRY_RUN, "--snapshot", old_snapshot, "--sql-output", sql]).returncode == 0
    copy = tmp_path / "copy.db"
    shutil.copyfile(old_snapshot, copy)
    conn = sqlite3.connect(copy)
    try:
        conn.executescript(sql.read_text())
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head_revision()
        assert conn.execute("SELECT count(*) FROM runtime_settings").fetchone()[0] == 1
    finally:
        conn.close()


def test_a_snapshot_at_head_has_nothing_pending(tmp_path: Path) -> None:
    path = tmp_path / "head.db"
    upgrade(f"sqlite:///{path}")
    _sqlite(path, "PRAGMA journal_mode=DELETE")
    before = sha256(path)
    sql = tmp_path / "none.sql"
    result = run_script([DRY_RUN, "--snapshot", path, "--sql-output", sql])
    assert result.returncode == 0, result.stderr
    assert "pending:   none" in result.stdout
    assert "0 schema change(s)" in result.stdout
    assert sql.read_text().startswith("-- nothing to upgrade")
    assert sha256(path) == before


def test_committed_pages_still_in_the_wal_file_are_part_of_the_rehearsal(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    upgrade(f"sqlite:///{path}", "0001")
    conn = sqlite3.connect(path, isolation_level=None)  # kept open so the WAL is not checkpointed away
    try:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("UPDATE alembic_version SET version_num = '0002'")
        assert path.with_name("live.db-wal").stat().st_size > 0
        result = run_script([DRY_RUN, "--snapshot", path])
    finally:
        conn.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "current:   0002" in result.stdout  # read from the copied -wal, not the stale main file


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text("name,price\nBTCUSDT,1\n"), "is not a SQLite database"),
        (lambda p: p.mkdir(), "is not a file"),
    ],
    ids=["missing", "not-a-database", "a-directory"],
)
def test_bad_snapshots_are_refused_with_exit_2(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "snapshot.db"
    make(path)  # type: ignore[operator]
    result = run_script([DRY_RUN, "--snapshot", path, "--sql-output", tmp_path / "x.sql"])
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "x.sql").exists()


def test_an_unknown_revision_is_refused_with_exit_2(old_snapshot: Path) -> None:
    _sqlite(old_snapshot, "UPDATE alembic_version SET version_num = 'f00dfeed'")
    before = sha256(old_snapshot)
    result = run_script([DRY_RUN, "--snapshot", old_snapshot])
    assert result.returncode == 2
    assert "unknown revision 'f00dfeed'" in result.stderr
    assert sha256(old_snapshot) == before
