"""A database that is not at the migrations' head stops start-up with one line, or QT_AUTO_MIGRATE=1 migrates it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from backend.tests.process import free_port
from database.migrate import head_revision, upgrade
from database.schema_gate import SchemaNotCurrent

REPO_ROOT = Path(__file__).resolve().parents[3]


def _launch(tmp_path: Path, database_url: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": database_url,
        "QT_PORT": str(free_port()),
        "QT_RISK_STATE_DB": str(tmp_path / "risk.db"),
        "QT_ADMIN_AUDIT_PATH": str(tmp_path / "audit.log"),
        "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "backend", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("args", [(), ("--check",)], ids=["serve", "check"])
def test_a_never_migrated_database_refuses_to_start_with_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    proc = _launch(tmp_path, f"sqlite:///{path}", *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0]
    assert "never migrated" in lines[0]
    assert f"head is {head_revision()}" in lines[0]
    assert "make migrate" in lines[0]
    assert "QT_AUTO_MIGRATE=1" in lines[0]
    assert _tables(f"sqlite:///{path}") == set()


def test_check_names_a_missing_sqlite_file_and_does_not_create_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    proc = _launch(tmp_path, f"sqlite:///{path}", "--check")
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
    assert not path.exists()
    assert _launch(tmp_path, f"sqlite:///{path}", "--check", QT_AUTO_MIGRATE="1").returncode == 0


def test_an_older_revision_is_named_with_the_head(
    make_settings: SettingsFactory, client_for: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    with pytest.raises(SchemaNotCurrent, match=rf"is at revision 0001, head is {head_revision()}: run make migrate"):
        client_for(make_settings(database={"DATABASE_URL": url}))


def test_a_revision_from_a_newer_release_is_refused_even_with_auto_migrate(
    make_settings: SettingsFactory, client_for: Any, database_url: str
) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
        settings = make_settings(database={"QT_AUTO_MIGRATE": True})
        with pytest.raises(SchemaNotCurrent, match="9999_from_the_future, unknown to this version"):
            client_for(settings)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()})
        engine.dispose()


def test_auto_migrate_migrates_an_empty_database_first(
    make_settings: SettingsFactory, client_for: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    client = client_for(make_settings(database={"DATABASE_URL": url, "QT_AUTO_MIGRATE": True}))
    assert client.get("/portfolio", headers=ADMIN_HEADERS).status_code == 200
    assert client.get("/health").json()["status"] != "unavailable"
    assert "alembic_version" in _tables(url)


@pytest.mark.postgres
def test_auto_migrate_on_postgresql(make_settings: SettingsFactory, client_for: Any) -> None:
    from backend.tests.conftest import _pg_base_url, private_pg_database

    if _pg_base_url() is None:
        pytest.skip("QT_TEST_DATABASE_URL is not set")
    with private_pg_database("qt_automigrate") as url:
        with pytest.raises(SchemaNotCurrent, match="never migrated"):
            client_for(make_settings(database={"DATABASE_URL": url}))
        client = client_for(make_settings(database={"DATABASE_URL": url, "QT_AUTO_MIGRATE": True}))
        assert client.get("/portfolio", headers=ADMIN_HEADERS).status_code == 200
        client.__exit__(None, None, None)


def test_read_only_refuses_to_auto_migrate(make_settings: SettingsFactory, client_for: Any, tmp_path: Path) -> None:
    path = tmp_path / "snapshot.db"
    sqlite3.connect(path).close()
    settings = make_settings(
        database={"DATABASE_URL": f"sqlite:///{path}", "QT_AUTO_MIGRATE": True, "QT_DATABASE_READ_ONLY": True}
    )
    with pytest.raises(SchemaNotCurrent, match="read-only"):
        client_for(settings)
