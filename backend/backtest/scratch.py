"""Scratch databases for a backtest: in-memory SQLite copies of one migrated template.

Alembic owns the schema here too: the template is migrated with the same migrations as the
service's database, once per set of migration files (kept under a hash of their contents, so a
later process reuses it and any change to a migration builds a new one), and every book of a run
gets its own in-memory copy of it through SQLite's backup API, so a run writes nothing to disk
besides the template and books never share rows.

The template lives in a private per-user folder of the temporary directory (``qt-backtest-<uid>``,
mode 0o700), reused only while it is a real folder owned by this user that nobody else can write
to, and only a template file this user owns: another local user must not be able to plant a
template (say, with a trigger) that changes every backtest. A folder failing that check is left
alone and the template is built in a fresh private folder for this process. Where there is no
``os.getuid`` (Windows) the temporary directory is already per-user and is not checked.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import sqlite3
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from database.session import SharedConnectionPool, make_session_factory

log = logging.getLogger(__name__)

_lock = threading.Lock()
_template: Path | None = None


MIGRATIONS = Path(__file__).resolve().parents[2] / "database" / "migrations"


def _migrations_key() -> str:
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.rglob("*.py")):
        digest.update(path.relative_to(MIGRATIONS).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _untrusted(path: Path, uid: int, *, folder: bool) -> str | None:
    """Why ``path`` (not followed if a symlink) must not be trusted by user ``uid``; None if it may."""
    info = os.lstat(path)
    if not (stat.S_ISDIR(info.st_mode) if folder else stat.S_ISREG(info.st_mode)):
        return "not a directory" if folder else "not a regular file"
    if info.st_uid != uid:
        return f"owned by uid {info.st_uid}, not {uid}"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"mode {stat.S_IMODE(info.st_mode):o} lets others write to it"
    return None


def _folder() -> tuple[Path, int | None]:
    """The folder the template is kept in, and the uid its files must belong to (None: unchecked)."""
    base = Path(tempfile.gettempdir())
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows: the temporary directory is the user's own
        folder = base / "qt-backtest"
        folder.mkdir(exist_ok=True)
        return folder, None
    uid: int = getuid()
    folder = base / f"qt-backtest-{uid}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    problem = _untrusted(folder, uid, folder=True)
    if problem is None:
        folder.chmod(0o700)  # ours: no one else even reads it
        return folder, uid
    fresh = Path(tempfile.mkdtemp(prefix="qt-backtest-"))  # 0o700, this process only
    atexit.register(shutil.rmtree, fresh, ignore_errors=True)
    log.warning("backtest template: not using %s (%s); building it in %s instead", folder, problem, fresh)
    return fresh, uid


def template() -> Path:
    """The migrated template database file (built on first use, then reused by later processes)."""
    global _template
    with _lock:
        if _template is None or not _template.exists():
            folder, uid = _folder()
            path = folder / f"template-{_migrations_key()}.db"
            if not path.exists() or (uid is not None and _untrusted(path, uid, folder=False)):
                from database.migrate import upgrade  # alembic: only when the template is built

                building_in = Path(tempfile.mkdtemp(prefix="building-", dir=folder))
                building = building_in / "template.db"
                upgrade(f"sqlite:///{building}")
                building.replace(path)  # atomic: a concurrent process sees no half-built file
                shutil.rmtree(building_in, ignore_errors=True)
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
