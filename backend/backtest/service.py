"""BacktestService: starts one backtest at a time in a worker process and serves the recorded runs.

The worker is a separate process (not a thread): a backtest is CPU-bound, and in this process it
would hold the GIL against the API and the trading jobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from backend.backtest.request import BacktestRequest
from backend.backtest.store import WORKER_MODULE, BacktestStore, RunView, worker_alive
from backend.backtest.worker import encode_settings, worker_environment
from config.runtime import SettingsHolder

log = logging.getLogger(__name__)
REPOSITORY = Path(__file__).resolve().parents[2]


def _drain(process: subprocess.Popen[bytes]) -> bytes:
    """The worker's stderr until it exits (its stdin is already closed), then its exit status."""
    err = process.stderr.read() if process.stderr is not None else b""
    process.wait()
    return err


class BacktestConflictError(RuntimeError):
    """The request does not fit the run's state (a 409)."""


class BacktestBusyError(BacktestConflictError):
    """A backtest is already queued or running (one at a time: the machine has few cores)."""


class BacktestService:
    def __init__(self, store: BacktestStore, settings: SettingsHolder, clock: Callable[[], datetime]) -> None:
        self.store = store
        self._settings = settings
        self._clock = clock
        self._lock = asyncio.Lock()
        self._watchers: set[asyncio.Task[None]] = set()
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    def folder(self, run_id: int) -> Path:
        return self._settings.current.model.artifacts_dir / "backtests" / str(run_id)

    async def start(self, request: BacktestRequest, requested_by: str | None) -> RunView:
        async with self._lock:
            active = await asyncio.to_thread(self.store.active)
            if active is not None:
                raise BacktestBusyError(f"backtest {active.id} is {active.status}; one runs at a time")
            view = await asyncio.to_thread(self.store.create, request.model_dump(mode="json"), requested_by)
            out_dir = self.folder(view.id)
            try:
                process = await asyncio.to_thread(self._spawn, view.id, out_dir)
            except Exception as exc:
                await asyncio.to_thread(self.store.fail, view.id, f"worker not started: {exc}")
                raise
            self._processes[view.id] = process
            task = asyncio.create_task(self._watch(view.id, process), name=f"backtest-{view.id}")
            self._watchers.add(task)
            task.add_done_callback(self._watchers.discard)
            return view

    async def cancel(self, run_id: int) -> RunView:
        """Stop a queued or running backtest: recorded failed (cancelled) first, then its worker is
        terminated (its watcher reaps it and leaves the record as it is)."""
        async with self._lock:
            view = await asyncio.to_thread(self.store.get, run_id)
            if view is None or view.status not in ("queued", "running"):
                raise BacktestConflictError(
                    f"backtest {run_id} is {view.status if view else 'unknown'}: nothing to cancel"
                )
            process = self._processes.get(run_id)
            if process is None and not worker_alive(view.worker_pid, run_id):
                raise BacktestConflictError(
                    f"backtest {run_id} is {view.status} in a worker this service did not start (another replica?)"
                )
            if not await asyncio.to_thread(self.store.fail, run_id, f"cancelled (POST /backtests/{run_id}/cancel)"):
                finished = await asyncio.to_thread(self.store.get, run_id)
                state = finished.status if finished is not None else "unknown"
                raise BacktestConflictError(f"backtest {run_id} is {state}: it finished before it could be cancelled")
            if process is not None:
                process.terminate()
            elif view.worker_pid:  # its worker outlived a restart of the service: signalled by pid
                os.kill(view.worker_pid, signal.SIGTERM)
            cancelled = await asyncio.to_thread(self.store.get, run_id)
        assert cancelled is not None  # noqa: S101 (the row was read above and runs are never deleted)
        return cancelled

    def _spawn(self, run_id: int, out_dir: Path) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", WORKER_MODULE, str(run_id), str(out_dir)],
            cwd=REPOSITORY,
            env=worker_environment(os.environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        if process.stdin is not None:
            process.stdin.write(encode_settings(self._settings.current))
            process.stdin.close()
        return process

    async def _watch(self, run_id: int, process: subprocess.Popen[bytes]) -> None:
        """Reap the worker; a run it left unfinished (crash, kill) is failed with its last words."""
        try:
            err = await asyncio.to_thread(_drain, process)
        finally:
            self._processes.pop(run_id, None)
            if process.stderr is not None:
                process.stderr.close()
        last = (err or b"").decode(errors="replace").strip().splitlines()
        reason = last[-1] if last else "no output"
        if await asyncio.to_thread(
            self.store.fail, run_id, f"worker exited with status {process.returncode}: {reason}"
        ):
            log.warning("backtest worker ended without finishing", extra={"run_id": run_id, "error": reason})

    def fail_interrupted(self) -> int:
        return self.store.fail_interrupted()

    async def close(self) -> None:
        """Stop a worker still running (its run is failed by its watcher) and reap it."""
        for process in list(self._processes.values()):
            process.terminate()
        for task in list(self._watchers):
            try:
                await asyncio.wait_for(task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                pass
        for process in list(self._processes.values()):
            process.kill()
            process.wait()
            if process.stderr is not None:
                process.stderr.close()

    def report_path(self, view: RunView) -> Path | None:
        if view.out_dir is None:
            return None
        path = Path(view.out_dir) / "report.html"
        return path if path.is_file() else None

    def equity_path(self, view: RunView) -> Path | None:
        """A completed run's equity.csv (the worker writes it before it records the run complete)."""
        if view.out_dir is None or view.status != "completed":
            return None
        path = Path(view.out_dir) / "equity.csv"
        return path if path.is_file() else None

    def warnings(self, view: RunView) -> list[str]:
        """A completed run's warnings, from its metrics.json (none before it completes)."""
        if view.out_dir is None or view.status != "completed":
            return []
        try:
            content = json.loads((Path(view.out_dir) / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [str(w) for w in content.get("warnings") or []]

    def describe(self, view: RunView) -> dict[str, Any]:
        return {"id": view.id, "status": view.status, "report_ready": self.report_path(view) is not None}
