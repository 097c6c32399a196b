"""Scratch databases for a backtest: in-memory SQLite copies of one migrated template.

Alembic owns the schema here too: the template is migrated with the same migrations as the
service's database, once per set of migration files (kept in the temporary directory under a hash
of their contents, so a later process reuses it and any change to a migration builds a new one),
and every book of a run gets its own in-memory copy of it through SQLite's backup API, so a run
writes nothing to disk besides the template and books never share rows.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from database.session import SharedConnectionPool, make_session_factory

_lock = threading.Lock()
_template: Path | None = None


MIGRATIONS = Path(__file__).resolve().parents[2] / "database" / "migrations"


def _migrations_key() -> str:
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.rglob("*.py")):
        digest.update(path.relative_to(MIGRATIONS).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def template() -> Path:
    """The migrated template database file (built on first use, then reused by later processes)."""
    global _template
    with _lock:
        if _template is None or not _template.exists():
            path = Path(tempfile.gettempdir()) / f"qt-backtest-template-{_migrations_key()}.db"
            if not path.exists():
                from database.migrate import upgrade  # alembic: only when the template is built

                folder = Path(tempfile.mkdtemp(prefix="qt-backtest-"))
                building = folder / "template.db"
                upgrade(f"sqlite:///{building}")
                building.replace(path)  # atomic: a concurrent process sees no half-built file
                shutil.rmtree(folder, ignore_errors=True)
            _template = path
        return _template


def scratch_engine() -> tuple[Engine, sessionmaker[Session]]:
    """A fresh in-memory database with the full schema; one connection shared by every thread."""
    source = template()

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        with sqlite3.connect(source) as src:
            src.backup(conn)
        return conn

    # the hot paths' scopes reuse one open Connection (database/session.py SharedConnectionPool)
    engine = create_engine("sqlite://", creator=connect, poolclass=SharedConnectionPool)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return engine, make_session_factory(engine)
