"""Start-up clean-up of backtest runs (BacktestStore.fail_interrupted): a run is left running only
while its own worker process lives, not while some other process happens to have the stored pid."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backend.backtest.store import BacktestStore
from database.session import make_engine, make_session_factory

NOW = datetime(2026, 12, 1, tzinfo=UTC)
needs_proc = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="command lines come from /proc")


@pytest.fixture
def store(database_url: str) -> Iterator[BacktestStore]:
    engine = make_engine(database_url)
    try:
        yield BacktestStore(make_session_factory(engine), lambda: NOW)
    finally:
        engine.dispose()


def worker_lookalike(run_id: int) -> subprocess.Popen[bytes]:
    """A live process whose command line is a worker's: ``... backend.backtest.worker RUN_ID OUT_DIR``."""
    sleep = "import time; time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", sleep, "backend.backtest.worker", str(run_id), "/nonexistent"])
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 30
    while cmdline.exists() and not cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # just started: its command line is empty until its exec is done
    return process


def status(store: BacktestStore, run_id: int) -> str:
    view = store.get(run_id)
    assert view is not None
    return view.status


def test_a_run_whose_pid_is_now_the_service_itself_is_failed_at_start_up(store: BacktestStore) -> None:
    view = store.create({"source": "replay"}, None)
    store.start(view.id, os.getpid(), "/nonexistent")  # a live process, but not a worker
    assert store.fail_interrupted() == 1
    after = store.get(view.id)
    assert after is not None
    assert after.status == "failed"
    assert "interrupted" in (after.error or "")


def test_only_the_run_whose_own_worker_still_runs_is_left_running_at_start_up(store: BacktestStore) -> None:
    reused = store.create({"source": "replay"}, None)
    store.start(reused.id, os.getpid(), "/nonexistent")  # its pid now belongs to the service
    working = store.create({"source": "replay"}, None)
    worker = worker_lookalike(working.id)
    try:
        store.start(working.id, worker.pid, "/nonexistent")
        assert store.fail_interrupted() == 1
        assert status(store, working.id) == "running"
        assert status(store, reused.id) == "failed"
    finally:
        worker.terminate()
        worker.wait()


@needs_proc
def test_a_run_whose_pid_now_belongs_to_another_runs_worker_is_failed_at_start_up(store: BacktestStore) -> None:
    view = store.create({"source": "replay"}, None)
    worker = worker_lookalike(view.id + 1000)  # a worker, of another run
    try:
        store.start(view.id, worker.pid, "/nonexistent")
        assert store.fail_interrupted() == 1
        assert status(store, view.id) == "failed"
    finally:
        worker.terminate()
        worker.wait()


def test_a_cancelled_run_stays_cancelled_when_its_worker_starts_or_finishes_after(store: BacktestStore) -> None:
    # the worker's start and complete set the status whatever it was: a run cancelled while queued
    # went back to running, one cancelled as it finished was recorded completed
    queued = store.create({"source": "replay"}, None).id
    assert store.fail(queued, "cancelled")
    assert not store.start(queued, os.getpid(), "/out")
    running = store.create({"source": "replay"}, None).id
    assert store.start(running, os.getpid(), "/out")
    assert store.fail(running, "cancelled")
    assert not store.complete(running, metrics={"strategy": {}}, data_range={}, seconds=1.0)
    for run_id in (queued, running):
        view = store.get(run_id)
        assert view is not None
        assert (view.status, view.error, view.metrics) == ("failed", "cancelled", None)


def test_a_run_that_finished_first_is_not_recorded_cancelled(store: BacktestStore) -> None:
    run_id = store.create({"source": "replay"}, None).id
    assert store.start(run_id, os.getpid(), "/out")
    assert store.complete(run_id, metrics={"strategy": {}}, data_range={}, seconds=1.0)
    assert not store.fail(run_id, "cancelled")
    assert not store.start(run_id, os.getpid(), "/out")
    assert status(store, run_id) == "completed"


def test_a_worker_whose_run_was_cancelled_while_queued_does_not_run_it(
    store: BacktestStore, make_settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from backend.backtest.worker import run

    run_id = store.create({"source": "simulated", "end": "2024-03-01T00:00:00Z"}, None).id
    assert store.fail(run_id, "cancelled")
    assert run(run_id, make_settings(), tmp_path / "out") == 1
    assert "is no longer queued (cancelled?): not run" in capsys.readouterr().err
    view = store.get(run_id)
    assert view is not None
    assert (view.status, view.error, view.started_at) == ("failed", "cancelled", None)
    assert not (tmp_path / "out").exists()


def test_a_worker_just_started_is_not_taken_for_gone_but_a_zombie_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # for a moment after a process starts its command line reads empty, as a zombie's does: the
    # run of a worker caught in that moment was failed while the worker went on
    import backend.backtest.store as store_module

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        proc = tmp_path / "proc" / str(sleeper.pid)
        proc.mkdir(parents=True)
        (proc / "cmdline").write_bytes(b"")
        monkeypatch.setattr(store_module, "PROC", tmp_path / "proc")
        (proc / "stat").write_text(f"{sleeper.pid} (python3) S 1 1 1 0 -1")
        assert store_module.worker_alive(sleeper.pid, 1)
        (proc / "stat").write_text(f"{sleeper.pid} (a (b) c) Z 1 1 1 0 -1")
        assert not store_module.worker_alive(sleeper.pid, 1)
    finally:
        sleeper.kill()
        sleeper.wait()
