#!/usr/bin/env python3
"""Create or upgrade the database to the latest migration, or check that it is healthy.

    python database/init_db.py [--url URL]            create/upgrade to head (alembic upgrade head)
    python database/init_db.py --check [--url URL]    verify, change nothing

The URL is ``--url`` or the service's own (DATABASE_URL, DB_USER, DB_PASS; backend/.env).
``--check`` verifies connectivity, SQLite ``PRAGMA integrity_check`` and ``foreign_key_check``
(PostgreSQL: a parameter round trip through the server), that the revision equals the migrations'
head, and that every table of the models exists. It opens SQLite read-only, so it never creates or
changes the file it checks.

Exit status: 0 ok; 1 problems found (listed, one a line); 2 the database is unreachable, or the
configuration is invalid.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

REPO_ROOT = Path(__file__).resolve().parent.parent
EXIT_OK, EXIT_PROBLEMS, EXIT_UNREACHABLE = 0, 1, 2


@dataclass
class CheckReport:
    url: str
    passed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unreachable: str | None = None

    @property
    def exit_code(self) -> int:
        if self.unreachable is not None:
            return EXIT_UNREACHABLE
        return EXIT_PROBLEMS if self.problems else EXIT_OK


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _sqlite_checks(conn: Connection, report: CheckReport) -> None:
    from sqlalchemy import text

    rows = [str(row[0]) for row in conn.execute(text("PRAGMA integrity_check"))]
    if rows == ["ok"]:
        report.passed.append("integrity: PRAGMA integrity_check ok")
    else:
        report.problems += [f"integrity: {row}" for row in rows]
    violations = list(conn.execute(text("PRAGMA foreign_key_check")))
    if violations:
        report.problems += [
            f"foreign keys: table {row[0]} rowid {row[1]} refers to a missing row of {row[2]}" for row in violations
        ]
    else:
        report.passed.append("foreign keys: PRAGMA foreign_key_check ok")


def _postgres_round_trip(conn: Connection, report: CheckReport) -> None:
    from sqlalchemy import text

    token = secrets.token_hex(8)
    t0 = time.perf_counter()
    echoed = conn.execute(text("SELECT CAST(:token AS text)"), {"token": token}).scalar()
    elapsed_ms = (time.perf_counter() - t0) * 1000
    version = conn.execute(text("SHOW server_version")).scalar()
    if echoed == token:
        report.passed.append(f"round trip: ok in {elapsed_ms:.1f} ms (PostgreSQL {version})")
    else:
        report.problems.append(f"round trip: sent {token!r}, received {echoed!r}")


def _schema_checks(conn: Connection, report: CheckReport) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from database.migrate import alembic_config
    from database.models import Base

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        report.passed.append(f"revision: {current} (head)")
    elif current is None:
        report.problems.append(f"revision: none, head is {head} (run: python database/init_db.py)")
    else:
        report.problems.append(f"revision: {current}, head is {head} (run: python database/init_db.py)")

    present = set(inspect(conn).get_table_names())
    required = sorted(Base.metadata.tables)
    missing = [name for name in required if name not in present]
    if missing:
        report.problems.append(f"tables: missing {', '.join(missing)}")
    else:
        report.passed.append(f"tables: all {len(required)} required tables present")


def check(url: str) -> CheckReport:
    """Verify the database at ``url`` without changing it."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from database.session import make_engine

    report = CheckReport(url=_display_url(url))
    path = _sqlite_path(url)
    if path is not None and not path.is_file():
        report.unreachable = f"SQLite file {path} does not exist"
        return report
    engine = make_engine(url, read_only=True)
    try:
        try:
            conn = engine.connect()
            conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            report.unreachable = f"{type(exc.orig).__name__}: {exc.orig}".strip().splitlines()[0]
            return report
        with conn:
            report.passed.append("connectivity: ok")
            try:
                if path is not None or url.startswith("sqlite"):
                    _sqlite_checks(conn, report)
                else:
                    _postgres_round_trip(conn, report)
            except DBAPIError as exc:
                # "file is not a database", "database disk image is malformed": the file is damaged
                report.problems.append(f"integrity: {exc.orig}")
                return report
            try:
                _schema_checks(conn, report)
            except DBAPIError as exc:
                report.problems.append(f"schema: cannot be read: {exc.orig}")
    finally:
        engine.dispose()
    return report


def initialise(url: str) -> str | None:
    """Create or upgrade the database to head; returns the new revision."""
    from database.migrate import current_revision, upgrade
    from database.session import make_engine

    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def _url_from_settings() -> tuple[str | None, bool, list[str]]:
    from pydantic import ValidationError

    from config.database import DatabaseSettings
    from config.settings import format_validation_error

    try:
        settings = DatabaseSettings()
    except ValidationError as exc:
        return None, False, format_validation_error(exc, secret_names={"DB_PASS"})
    return settings.effective_url, settings.read_only, []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create/upgrade the database to head, or --check it.")
    parser.add_argument("--check", action="store_true", help="verify the database; change nothing")
    parser.add_argument("--url", help="database URL (default: DATABASE_URL and the service's settings)")
    args = parser.parse_args(argv)

    read_only = False
    if args.url:
        from config.database import normalise_database_url

        try:
            url = normalise_database_url(args.url)
        except ValueError as exc:
            print(f"configuration error: --url: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
    else:
        found, read_only, problems = _url_from_settings()
        if found is None:
            for problem in problems:
                print(f"configuration error: {problem}", file=sys.stderr)
            return EXIT_UNREACHABLE
        url = found

    if args.check:
        report = check(url)
        print(f"checking {report.url}")
        for line in report.passed:
            print(f"  ok    {line}")
        for line in report.problems:
            print(f"  FAIL  {line}")
        if report.unreachable is not None:
            print(f"  FAIL  unreachable: {report.unreachable}")
            print("database unreachable")
        elif report.problems:
            print(f"{len(report.problems)} problem(s) found")
        else:
            print("database ok")
        return report.exit_code

    if read_only:
        print(
            "QT_DATABASE_READ_ONLY=1: refusing to create or upgrade the database (use --check to verify it)",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    try:
        revision = initialise(url)
    except Exception as exc:
        print(f"upgrade failed on {_display_url(url)}: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_UNREACHABLE if "connect" in str(exc).lower() else EXIT_PROBLEMS
    print(f"database {_display_url(url)} is at revision {revision} (head)")
    return EXIT_OK


if __name__ == "__main__":
    # run as a file (python database/init_db.py): import the project from the repository root,
    # not from database/ (whose modules would otherwise shadow top-level names)
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)
    sys.path.insert(0, str(REPO_ROOT))
    from scripts.project_env import enter

    enter(__file__)  # a fresh shell's python3 has none of the requirements: use .venv's
    sys.exit(main())
