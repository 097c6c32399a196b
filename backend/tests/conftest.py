"""Shared fixtures: a migrated database per test (SQLite, or PostgreSQL with QT_TEST_DATABASE_URL),
settings isolated in tmp_path, and an app client with its lifespan running."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

# The spec: the suite relies on this token so fixtures can exercise the admin surface.
os.environ["QT_ADMIN_TOKEN"] = "test-admin-token"
ADMIN_TOKEN = "test-admin-token"
ADMIN_HEADERS = {"X-Admin-Token": ADMIN_TOKEN}

from config.settings import Settings, load_settings  # noqa: E402
from database.migrate import upgrade  # noqa: E402

PG_ENV = "QT_TEST_DATABASE_URL"


def _pg_base_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("db-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@contextmanager
def private_pg_database(prefix: str, *, migrate: bool = False) -> Iterator[str]:
    """A new PostgreSQL database on QT_TEST_DATABASE_URL's server, dropped afterwards.

    Each test session (and each test that needs a server of its own) gets a private database, so
    parallel runs never collide.
    """
    base = _pg_base_url()
    if base is None:
        raise RuntimeError("QT_TEST_DATABASE_URL is not set")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """A migrated PostgreSQL database for this test session (None without QT_TEST_DATABASE_URL)."""
    if _pg_base_url() is None:
        yield None
        return
    with private_pg_database("qt_test", migrate=True) as url:
        yield url


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            if tables:
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


def _backends() -> list[Any]:
    if _pg_base_url() is None:
        return ["sqlite"]
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database; with QT_TEST_DATABASE_URL set, each test runs on SQLite and PostgreSQL."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        _truncate_all(url)
        return url
    path = tmp_path / "quantum_trader.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite database, whatever QT_TEST_DATABASE_URL says."""
    path = tmp_path / "sqlite-only.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> SettingsFactory:
    """Settings isolated from backend/.env and the developer's files; keyword args per section."""

    def factory(**sections: dict[str, Any]) -> Settings:
        defaults: dict[str, dict[str, Any]] = {
            "app": {
                "QT_ADMIN_TOKEN": ADMIN_TOKEN,
                "QT_ALLOWED_HOSTS": "testserver",  # the Host TestClient sends
                "QT_ADMIN_AUDIT_PATH": str(tmp_path / "audit.log"),
                "QT_TRADES_LOG_PATH": str(tmp_path / "trades.log"),
            },
            "database": {"DATABASE_URL": database_url},
            "scheduler": {"QUANTUM_TRADER_DISABLE_SCHEDULER": True},
            "risk": {"QT_RISK_STATE_DB": str(tmp_path / "risk_state.db")},
            "model": {"QT_MODEL_ARTIFACTS_DIR": str(tmp_path / "artifacts"), "QT_MODEL_AUTO_TRAIN": False},
        }
        for name, values in sections.items():
            defaults.setdefault(name, {}).update(values)
        return load_settings(defaults, env_file=False)

    return factory


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def client_for() -> Iterator[Callable[[Settings], Any]]:
    """Start apps (lifespan included) for given settings; all are closed after the test."""
    from fastapi.testclient import TestClient

    from backend.main import create_app

    clients: list[TestClient] = []

    def start(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings), client=("203.0.113.7", 50000))
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_for: Callable[[Settings], Any], settings: Settings) -> Any:
    return client_for(settings)
