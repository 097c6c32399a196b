#!/usr/bin/env python3
"""Rehearse a migration on a copy of a SQLite snapshot before applying it for real.

    python backend/scripts/alembic_dry_run.py --snapshot backups/staging/trades.db \
        --sql-output artifacts/alembic-upgrade-staging.sql

Copies the snapshot (and its -wal file, if any) to a temporary directory, reports the snapshot's
current revision and the pending migrations, writes the offline SQL of
``alembic upgrade <current>:head --sql`` for change-management review, applies the upgrade to the
copy to prove it runs, and prints a summary of the schema changes. The snapshot itself is only read,
never opened by SQLite: its sha256 is compared before and after.

Exit status: 0 the upgrade runs (or nothing is pending); 1 the upgrade failed on the copy;
2 bad input (missing file, not a SQLite database, a revision these migrations do not know).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

REPO_ROOT = Path(__file__).resolve().parents[2]
SQLITE_MAGIC = b"SQLite format 3\x00"
EXIT_OK, EXIT_UPGRADE_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class DryRunError(Exception):
    """Bad input: the message says what is wrong and the run stops with exit status 2."""


# A trailing parenthesised note in a revision message was for the developers who wrote it
# ("(filled by the execution issue)"); migrations on main are never edited, so it is dropped here.
_NOTE = re.compile(r"\s*\([^()]*\)\s*\.?\s*$")


def summary(doc: str | None) -> str:
    """A revision message as operators read it: its first line without a trailing developer note."""
    first = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
    return _NOTE.sub("", first)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Schema:
    """Tables with their columns and indexes, as SQLAlchemy reflects them."""

    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    indexes: dict[str, set[str]] = field(default_factory=dict)


def reflect(url: str) -> Schema:
    from sqlalchemy import inspect

    from database.session import make_engine

    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        schema = Schema()
        for table in inspector.get_table_names():
            schema.tables[table] = {col["name"]: str(col["type"]) for col in inspector.get_columns(table)}
            schema.indexes[table] = {str(ix["name"]) for ix in inspector.get_indexes(table)}
        return schema
    finally:
        engine.dispose()


def diff_summary(before: Schema, after: Schema) -> list[str]:
    """One line per change: tables, columns (with type changes) and indexes."""
    lines: list[str] = []
    for table in sorted(after.tables.keys() - before.tables.keys()):
        lines.append(f"+ table {table} ({len(after.tables[table])} columns)")
    for table in sorted(before.tables.keys() - after.tables.keys()):
        lines.append(f"- table {table}")
    for table in sorted(before.tables.keys() & after.tables.keys()):
        old, new = before.tables[table], after.tables[table]
        lines += [f"+ column {table}.{col} {new[col]}" for col in sorted(new.keys() - old.keys())]
        lines += [f"- column {table}.{col}" for col in sorted(old.keys() - new.keys())]
        lines += [
            f"~ column {table}.{col} {old[col]} -> {new[col]}"
            for col in sorted(old.keys() & new.keys())
            if old[col] != new[col]
        ]
        old_ix, new_ix = before.indexes.get(table, set()), after.indexes.get(table, set())
        lines += [f"+ index {table}.{ix}" for ix in sorted(new_ix - old_ix)]
        lines += [f"- index {table}.{ix}" for ix in sorted(old_ix - new_ix)]
    return lines


def copy_snapshot(snapshot: Path, directory: Path) -> Path:
    """Copy the snapshot (with its -wal, which may hold committed pages) without opening it."""
    if not snapshot.exists():
        raise DryRunError(f"snapshot {snapshot} does not exist")
    if not snapshot.is_file():
        raise DryRunError(f"snapshot {snapshot} is not a file")
    with snapshot.open("rb") as handle:
        header = handle.read(len(SQLITE_MAGIC))
    if header != SQLITE_MAGIC:
        raise DryRunError(f"snapshot {snapshot} is not a SQLite database (no SQLite header)")
    copy = directory / snapshot.name
    shutil.copyfile(snapshot, copy)
    wal = snapshot.with_name(snapshot.name + "-wal")
    if wal.is_file():
        shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
    return copy


def current_revision_of(url: str, script: ScriptDirectory) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError

    from database.session import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as exc:
        raise DryRunError(f"snapshot cannot be read as a database: {exc.orig}") from exc
    finally:
        engine.dispose()
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError as exc:
            raise DryRunError(
                f"unknown revision {current!r} in the snapshot: these migrations do not know it "
                f"(head is {script.get_current_head()}); is the snapshot newer than this code?"
            ) from exc
    return current


def dry_run(snapshot: Path, sql_output: Path | None, out: list[str]) -> int:
    from alembic import command
    from alembic.script import ScriptDirectory

    from database.migrate import alembic_config

    before_hash = sha256_of(snapshot) if snapshot.is_file() else None
    with tempfile.TemporaryDirectory(prefix="qt-alembic-dry-run-") as tmp:
        copy = copy_snapshot(snapshot, Path(tmp))
        url = f"sqlite:///{copy}"
        script = ScriptDirectory.from_config(alembic_config(url))
        head = script.get_current_head()
        current = current_revision_of(url, script)
        out.append(f"snapshot:  {snapshot} (sha256 {before_hash})")
        out.append(f"current:   {current or 'none (no alembic_version: an empty or untracked database)'}")
        out.append(f"head:      {head}")
        pending = list(reversed(list(script.iterate_revisions(head, current or "base"))))
        if pending:
            out.append(f"pending:   {len(pending)} migration(s)")
            out += [f"  {rev.revision}  {summary(rev.doc)}".rstrip() for rev in pending]
        else:
            out.append("pending:   none, the snapshot is at head")

        if sql_output is not None:
            sql_output.parent.mkdir(parents=True, exist_ok=True)
            with sql_output.open("w", encoding="utf-8") as handle:
                if pending:
                    cfg = alembic_config(url)
                    cfg.output_buffer = handle
                    command.upgrade(cfg, f"{current}:head" if current else "head", sql=True)
                else:
                    handle.write(f"-- nothing to upgrade: the snapshot is at head ({head})\n")
            out.append(f"offline SQL: {sql_output}")

        schema_before = reflect(url)
        try:
            command.upgrade(alembic_config(url), "head")
        except Exception as exc:
            out.append(f"UPGRADE FAILED on the copy: {type(exc).__name__}: {exc}".splitlines()[0])
            return EXIT_UPGRADE_FAILED
        schema_after = reflect(url)
        changes = diff_summary(schema_before, schema_after)
        out.append(f"upgrade applied to the copy: ok ({len(changes)} schema change(s))")
        out += [f"  {line}" for line in changes]

    after_hash = sha256_of(snapshot)
    if after_hash != before_hash:  # pragma: no cover - the snapshot is only ever read
        out.append(f"WARNING: the snapshot changed during the run (sha256 now {after_hash})")
        return EXIT_UPGRADE_FAILED
    out.append("snapshot unchanged (sha256 verified)")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rehearse `alembic upgrade head` on a copy of a SQLite snapshot.")
    parser.add_argument("--snapshot", type=Path, required=True, help="SQLite snapshot file (only read)")
    parser.add_argument("--sql-output", type=Path, help="write the offline upgrade SQL here")
    args = parser.parse_args(argv)
    lines: list[str] = []
    try:
        status = dry_run(args.snapshot, args.sql_output, lines)
    except DryRunError as exc:
        if lines:
            print("\n".join(lines))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)
    sys.path.insert(0, str(REPO_ROOT))
    from scripts.project_env import enter

    enter(__file__)  # a fresh shell's python3 has none of the requirements: use .venv's
    sys.exit(main())
