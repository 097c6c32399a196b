"""Scratch databases for a backtest: in-memory SQLite copies of one migrated template.

Alembic owns the schema here too: the template is migrated once per process (the same migrations
as the service's database), and every book of a run gets its own in-memory copy of it through
SQLite's backup API, so a run writes nothing to disk and books never share rows.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from database.migrate import upgrade
from database.session import make_session_factory

_lock = threading.Lock()
_template: Path | None = None


def template() -> Path:
    """The migrated template database file of this process (built on first use)."""
    global _template
    with _lock:
        if _template is None or not _template.exists():
            folder = Path(tempfile.mkdtemp(prefix="qt-backtest-"))
            path = folder / "template.db"
            upgrade(f"sqlite:///{path}")
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

    engine = create_engine("sqlite://", creator=connect, poolclass=StaticPool)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return engine, make_session_factory(engine)
