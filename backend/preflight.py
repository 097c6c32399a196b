"""Checks start-up makes before serving, shared by `python -m backend` and `--check`: one line each.

The configuration itself is validated by config.settings.load_settings; these look at what it
names: the port to bind, the replay files, the database's schema.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from backend.market.errors import ReplayFileError
from backend.market.factory import build_source
from config.market import MarketSource
from config.settings import Settings
from database.schema_gate import MIGRATE_COMMAND, missing_sqlite_file, schema_problem
from database.session import make_engine


def schema_problems(settings: Settings) -> list[str]:
    """The database must be at the migrations' head, unless QT_AUTO_MIGRATE=1 will take it there."""
    db = settings.database
    url = db.effective_url
    missing = missing_sqlite_file(url)
    if missing is not None:
        if db.auto_migrate and not db.read_only:
            return []
        return [f"DATABASE_URL: SQLite file {missing} does not exist: run {MIGRATE_COMMAND}, or set QT_AUTO_MIGRATE=1"]
    engine = make_engine(url, read_only=True)
    try:
        problem, fixable = schema_problem(engine, url)
    finally:
        engine.dispose()
    if problem is None or (fixable and db.auto_migrate and not db.read_only):
        return []
    return [problem]


def port_problems(settings: Settings) -> list[str]:
    """The address must be free now: a second `make run` stops here, before it touches anything."""
    host, port = settings.app.host, settings.app.port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return [f"QT_HOST={host!r}: cannot be resolved ({exc.strerror or exc})"]
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # the same option uvicorn sets, so a port in TIME_WAIT is not mistaken for a busy one
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return [
                f"QT_PORT={port}: {host}:{port} is not available ({exc.strerror or exc}); "
                "stop the process using it (another `make run`?) or set QT_PORT"
            ]
    return []


def market_problems(settings: Settings) -> list[str]:
    """Build the market source as start-up does (replay files are read and checked; no network)."""
    market = settings.market
    if market.source is not MarketSource.REPLAY:
        return []
    try:
        build_source(market, lambda: datetime.now(UTC)).close()
    except ReplayFileError as exc:
        where = (
            ""
            if exc.path == market.replay_dir and exc.line is None
            else f"{exc.path}" + (f" line {exc.line}" if exc.line is not None else "")
        )
        accepted = "; accepted: a directory of SYMBOL.csv kline files (docs/market.md)"
        return [f"QT_REPLAY_DIR={str(market.replay_dir)!r}: {where + ': ' if where else ''}{exc.reason}{accepted}"]
    return []


def preflight(settings: Settings) -> list[str]:
    """Every problem that would stop start-up, one line each (empty: the service can start)."""
    return port_problems(settings) + market_problems(settings) + schema_problems(settings)
