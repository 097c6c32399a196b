"""The scratch databases' migrated template: kept in a private per-user folder of the temporary
directory and reused by later processes of the same user, never a file another user could plant
(at the old shared path, or in a folder that others can write to or that someone else owns)."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import stat
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

import database.migrate
from backend.backtest import scratch

PLANT = "CREATE TRIGGER planted BEFORE INSERT ON fills BEGIN SELECT RAISE(ABORT, 'planted'); END"
posix_only = pytest.mark.skipif(not hasattr(os, "getuid"), reason="per-user folders are POSIX only")


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tempfile's directory moved to tmp_path, and no template cached by this process yet."""
    base = tmp_path / "tmp"
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    monkeypatch.setattr(scratch, "_template", None)
    return base


def plant(path: Path, genuine: Path) -> None:
    """A migrated database, as the real template, with a trigger that rejects every fill."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(genuine, path)
    with sqlite3.connect(path) as conn:
        conn.execute(PLANT)


def scratch_triggers() -> set[str]:
    engine, _sessions = scratch.scratch_engine()
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
    finally:
        engine.dispose()


def private_folder(base: Path) -> Path:
    return base / f"qt-backtest-{os.getuid()}"


def template_name() -> str:
    return f"template-{scratch._migrations_key()}.db"


def test_a_template_planted_at_the_old_shared_path_is_not_used(temp_dir: Path, sqlite_template: Path) -> None:
    planted = temp_dir / f"qt-backtest-template-{scratch._migrations_key()}.db"
    plant(planted, sqlite_template)
    assert scratch.template() != planted
    assert "planted" not in scratch_triggers()


@posix_only
def test_a_template_in_a_folder_others_can_write_to_is_not_used(
    temp_dir: Path, sqlite_template: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = private_folder(temp_dir)
    plant(folder / template_name(), sqlite_template)
    folder.chmod(0o777)
    with caplog.at_level(logging.WARNING, logger=scratch.__name__):
        used = scratch.template()
    assert folder not in used.parents
    assert "planted" not in scratch_triggers()
    assert str(folder) in caplog.text
    assert stat.S_IMODE(used.parent.stat().st_mode) == 0o700  # this process's own private folder


@posix_only
@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="giving a folder away needs root")
def test_a_template_in_a_folder_owned_by_another_user_is_not_used(temp_dir: Path, sqlite_template: Path) -> None:
    folder = private_folder(temp_dir)
    plant(folder / template_name(), sqlite_template)
    folder.chmod(0o700)
    os.chown(folder, 4242, 4242)
    used = scratch.template()
    assert folder not in used.parents
    assert "planted" not in scratch_triggers()
    assert stat.S_IMODE(used.parent.stat().st_mode) == 0o700  # built in a private folder of its own
    assert used.parent.stat().st_uid == os.getuid()


@posix_only
def test_the_template_is_built_once_in_a_private_folder_and_reused_by_a_later_process(
    temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = scratch.template()
    assert first.parent == private_folder(temp_dir)
    assert stat.S_IMODE(first.parent.stat().st_mode) == 0o700
    assert first.stat().st_uid == os.getuid()
    built = first.stat()

    def no_rebuild(url: str) -> None:
        raise AssertionError(f"the template was built again: {url}")

    monkeypatch.setattr(database.migrate, "upgrade", no_rebuild)
    monkeypatch.setattr(scratch, "_template", None)  # as a later process: nothing cached
    again = scratch.template()
    assert again == first
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (built.st_ino, built.st_mtime_ns)
    assert scratch_triggers() == set()  # the genuine migrations create no triggers
