"""Start-up clean-up of backtest runs (BacktestStore.fail_interrupted): a run is left running only
while its own worker process lives, not while some other process happens to have the stored pid."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

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
    return subprocess.Popen([sys.executable, "-c", sleep, "backend.backtest.worker", str(run_id), "/nonexistent"])


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
