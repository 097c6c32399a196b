"""Persistence of backtest runs (backtest_runs): what the API lists and the worker fills in."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from database.models.backtest import BacktestRun

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class RunView:
    id: int
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    requested_by: str | None
    params: dict[str, Any]
    data_range: dict[str, Any] | None
    metrics: dict[str, Any] | None
    out_dir: str | None
    error: str | None
    worker_pid: int | None = None

    @classmethod
    def of(cls, row: BacktestRun) -> RunView:
        return cls(
            id=row.id,
            status=row.status,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_seconds=row.duration_seconds,
            requested_by=row.requested_by,
            params=dict(row.params or {}),
            data_range=row.data_range,
            metrics=row.metrics,
            out_dir=row.out_dir,
            error=row.error,
            worker_pid=row.worker_pid,
        )


WORKER_MODULE = "backend.backtest.worker"  # service.py _spawn: [python, -m, WORKER_MODULE, run_id, out_dir]
PROC = Path("/proc")


def _alive(pid: int | None) -> bool:
    """Whether a process has this pid (signal 0). Not on Windows, where signal 0 is CTRL_C_EVENT
    (it would interrupt a process group): there a stored pid counts as gone."""
    if not pid or os.name == "nt":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _zombie(pid: int) -> bool:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return True  # gone meanwhile
    return stat.rpartition(")")[2].split()[:1] == ["Z"]  # the state follows the command's name in ()


def worker_alive(pid: int | None, run_id: int) -> bool:
    """Whether `pid` is a live backtest worker of run `run_id`, not just any live process.

    A pid stored before a restart is often reused (in a container, by the new service itself), so
    on Linux the process's command line (/proc/<pid>/cmdline) must name the worker module followed
    by the run id. psutil is not a dependency; where /proc is missing only the pid is checked (macOS;
    on Windows a stored pid counts as gone, see `_alive`). The service's own process is never the worker.
    """
    if not pid or pid == os.getpid():
        return False
    if not PROC.is_dir():
        return _alive(pid)
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except PermissionError:  # hidden from us: assume it may be the worker, as the pid check did
        return _alive(pid)
    except OSError:  # no such process
        return False
    if not raw:  # a zombie's is empty, and so, for a moment, is one just started (exec under way)
        return _alive(pid) and not _zombie(pid)
    argv = raw.decode(errors="replace").split("\0")
    return any(arg == WORKER_MODULE and nxt == str(run_id) for arg, nxt in pairwise(argv))


class BacktestStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def create(self, params: dict[str, Any], requested_by: str | None) -> RunView:
        with self._sessions.begin() as session:
            row = BacktestRun(status="queued", created_at=self._clock(), params=params, requested_by=requested_by)
            session.add(row)
            session.flush()
            return RunView.of(row)

    def active(self) -> RunView | None:
        with self._sessions() as session:
            row = session.scalar(select(BacktestRun).where(BacktestRun.status.in_(ACTIVE)).limit(1))
            return RunView.of(row) if row is not None else None

    def get(self, run_id: int) -> RunView | None:
        with self._sessions() as session:
            row = session.get(BacktestRun, run_id)
            return RunView.of(row) if row is not None else None

    def list(self, *, limit: int, offset: int) -> tuple[int, list[RunView]]:
        with self._sessions() as session:
            total = int(session.scalar(select(func.count()).select_from(BacktestRun)) or 0)
            rows = session.scalars(select(BacktestRun).order_by(BacktestRun.id.desc()).limit(limit).offset(offset))
            return total, [RunView.of(r) for r in rows]

    def _move(self, run_id: int, states: tuple[str, ...], **values: Any) -> bool:
        """Set ``values`` if the run is in one of ``states``, in one conditional UPDATE (a cancel and
        the worker's own step may race: the first wins, on either database); False when it was not."""
        with self._sessions.begin() as session:
            moved: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(BacktestRun)
                .where(BacktestRun.id == run_id, BacktestRun.status.in_(states))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(moved.rowcount)

    def start(self, run_id: int, pid: int, out_dir: str) -> bool:
        """queued -> running; False when it is not queued any more (cancelled before its worker began)."""
        return self._move(
            run_id, ("queued",), status="running", started_at=self._clock(), worker_pid=pid, out_dir=out_dir
        )

    def complete(self, run_id: int, *, metrics: dict[str, Any], data_range: dict[str, Any], seconds: float) -> bool:
        """running -> completed; False when it is not running any more (cancelled as it finished)."""
        return self._move(
            run_id,
            ("running",),
            status="completed",
            finished_at=self._clock(),
            metrics=metrics,
            data_range=data_range,
            duration_seconds=seconds,
        )

    def fail(self, run_id: int, error: str) -> bool:
        """Mark an unfinished run failed; False when it had finished already."""
        return self._move(run_id, ACTIVE, status="failed", error=error, finished_at=self._clock())

    def fail_interrupted(self) -> int:
        """At start-up: runs left queued or running by a worker that is gone are failed.

        Gone means no live process with the stored pid that is this run's worker (`worker_alive`).
        """
        failed = 0
        with self._sessions.begin() as session:
            for row in session.scalars(select(BacktestRun).where(BacktestRun.status.in_(ACTIVE))):
                if not worker_alive(row.worker_pid, row.id):
                    row.status = "failed"
                    row.error = "interrupted: the worker process is gone (service restarted)"
                    row.finished_at = self._clock()
                    failed += 1
        return failed
