"""Refuse to serve a database whose schema is not the migrations' head (or migrate it first).

A service started on a never-migrated database used to answer 500 with SQL in /health; now start-up
stops with one line naming the database, its revision, the head and the command to run, unless
QT_AUTO_MIGRATE=1 asks for ``alembic upgrade head`` first.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from database.migrate import alembic_config, upgrade

log = logging.getLogger(__name__)

MIGRATE_COMMAND = "make migrate (or: .venv/bin/alembic upgrade head)"
# pg_advisory_lock key held while one replica migrates, so two starting together never race
_MIGRATION_LOCK_KEY = 0x51_54_4D_49_47  # "QTMIG"


class SchemaNotCurrent(Exception):
    """The database is not at the migrations' head; the message is the one line to print."""


def _display(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def _is_known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file ``url`` names when it does not exist yet (None for other databases)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    path = Path(database)
    return None if path.exists() else path


def schema_problem(engine: Engine, url: str) -> tuple[str | None, bool]:
    """(one-line problem or None, whether ``alembic upgrade head`` would fix it).

    An unreachable database is not a schema problem: the service starts and /health says so.
    """
    scripts = _scripts()
    head = scripts.get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except DBAPIError:
        return None, False
    if current == head:
        return None, False
    where = f"database {_display(url)}"
    if current is not None and not _is_known(scripts, current):
        return (
            f"{where} is at revision {current}, unknown to this version (head {head}): "
            "it was migrated by a newer release; run that release or restore a matching backup",
            False,
        )
    state = "was never migrated" if current is None else f"is at revision {current}"
    return f"{where} {state}, head is {head}: run {MIGRATE_COMMAND}, or start with QT_AUTO_MIGRATE=1", True


def ensure_current(engine: Engine, url: str, *, auto_migrate: bool, read_only: bool) -> None:
    """Return when the schema is at head (migrating first if allowed); raise SchemaNotCurrent otherwise."""
    problem, fixable = schema_problem(engine, url)
    if problem is None:
        return
    if not (auto_migrate and fixable):
        raise SchemaNotCurrent(problem)
    if read_only:
        raise SchemaNotCurrent(
            f"database {_display(url)} is not at the migrations' head and QT_DATABASE_READ_ONLY=1: "
            "QT_AUTO_MIGRATE cannot migrate a read-only database; serve a migrated snapshot"
        )
    log.warning("QT_AUTO_MIGRATE=1: migrating to head", extra={"database": _display(url)})
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            try:
                upgrade(url)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    else:
        upgrade(url)
    problem, _ = schema_problem(engine, url)
    if problem is not None:
        raise SchemaNotCurrent(problem)
