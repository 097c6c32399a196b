"""Engine and session factories: SQLite with WAL, busy timeout and foreign keys; PostgreSQL via psycopg 3."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

DEFAULT_BUSY_TIMEOUT_MS = 5000


def make_engine(
    url: str, *, read_only: bool = False, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, **kwargs: Any
) -> Engine:
    """Create an engine; SQLite connections get WAL, a busy timeout and foreign keys on."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return _sqlite_engine(url, read_only=read_only, busy_timeout_ms=busy_timeout_ms, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if read_only:

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.commit()

    return engine


def _sqlite_engine(url: str, *, read_only: bool, busy_timeout_ms: int, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    if read_only and database and database != ":memory:":
        # mode=ro opens the file without ever writing to it (no WAL switch, no -wal/-shm files
        # changing the snapshot); immutable=1 is not used so a live file still reads correctly.
        if database.startswith("file:"):  # already a URI: keep its parameters, force read-only
            url = parsed.update_query_dict({"mode": "ro", "uri": "true"}).render_as_string(hide_password=False)
        else:
            url = f"sqlite:///file:{database}?mode=ro&uri=true"
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if not read_only and database != ":memory:":
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class SharedConnectionPool(StaticPool):
    """A StaticPool (one DBAPI connection for everything: an in-memory SQLite database) that also
    keeps one SQLAlchemy Connection per thread open on it for ``engine_scope``: a scope then costs
    a BEGIN and a COMMIT (or a ROLLBACK after a read), not a new Connection with a pool checkout,
    checkin and reset. Between scopes that Connection holds no transaction, so sessions and other
    connections of the engine work on the one DBAPI connection exactly as with a StaticPool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held = threading.local()
        self._all: list[Connection] = []

    def held(self, engine: Engine) -> Connection:
        conn: Connection | None = getattr(self._held, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._held.conn = engine.connect()
            self._all.append(conn)
        return conn

    def dispose(self) -> None:
        for conn in self._all:  # returned before the one connection closes
            conn.close()
        self._all.clear()
        super().dispose()


@contextmanager
def engine_scope(bind: Engine, *, write: bool = False) -> Iterator[Connection]:
    """A Core connection of the engine: committed at the end when ``write`` (rolled back on error),
    else a read (rolled back after)."""
    pool = bind.pool
    if not isinstance(pool, SharedConnectionPool):
        with bind.begin() if write else bind.connect() as conn:
            yield conn
        return
    conn = pool.held(bind)
    if conn.in_transaction():
        # a scope inside a scope: one DBAPI connection has one transaction, the outer scope's (a
        # connection of its own would end it when returned to the pool)
        yield conn
    elif write:
        with conn.begin():
            yield conn
    else:
        try:
            yield conn
        finally:
            if conn.in_transaction():
                conn.rollback()


@contextmanager
def connection_scope(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Connection]:
    """A Core connection of the factory's engine, without an ORM session: committed at the end when
    ``write`` (rolled back on error), else a read. For statements on hot paths (the execution cycle
    runs several per order), where building and closing a Session costs more than the statement."""
    bind = factory.kw.get("bind")
    if isinstance(bind, Engine):
        with engine_scope(bind, write=write) as conn:
            yield conn
        return
    with factory.begin() if write else factory() as session:
        yield session.connection()
