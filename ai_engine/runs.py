"""Training run rows (ModelTrainingRun): start, heartbeat, complete, fail, interrupted-run sweep, queries.

A run is ``running`` until it ends ``completed`` or ``failed``; while it trains it refreshes its
heartbeat, so a start-up anywhere (any host, any replica) can tell a run whose process died from
one still in progress.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from database.models import ModelTrainingRun
from database.session import session_scope

log = logging.getLogger(__name__)

RUNNING, COMPLETED, FAILED = "running", "completed", "failed"
# A running row whose heartbeat is older than this was interrupted, whatever host recorded it.
HEARTBEAT_SECONDS = 30.0
STALE_AFTER = timedelta(minutes=10)


def jsonable(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become None (PostgreSQL's JSON refuses them), numpy scalars plain."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def process_alive(pid: object) -> bool:
    """Whether a process with this id exists on this host (signal 0 checks without signalling)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def new_version(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class RunRecord:
    """A ModelTrainingRun row as plain data."""

    id: int
    version: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    dataset: dict[str, Any] | None
    params: dict[str, Any] | None
    metrics: dict[str, Any] | None
    model_path: str | None
    sha256: str | None
    is_active: bool
    activated_at: datetime | None
    error: str | None
    heartbeat_at: datetime | None = None

    @classmethod
    def of(cls, row: ModelTrainingRun) -> RunRecord:
        return cls(
            id=row.id,
            version=row.version,
            status=row.status,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_seconds=row.duration_seconds,
            dataset=row.dataset,
            params=row.params,
            metrics=row.metrics,
            model_path=row.model_path,
            sha256=row.sha256,
            is_active=row.is_active,
            activated_at=row.activated_at,
            error=row.error,
            heartbeat_at=row.heartbeat_at,
        )


class RunStore:
    """The run rows of the model registry."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    # runs ---------------------------------------------------------------------------------------
    def start_run(self, *, dataset: dict[str, Any], params: dict[str, Any]) -> RunRecord:
        now = self._clock()
        with session_scope(self._sessions) as session:
            row = ModelTrainingRun(
                version=new_version(now),
                status=RUNNING,
                started_at=now,
                dataset=jsonable(dataset),
                params=jsonable({**params, "runner": {"host": socket.gethostname(), "pid": os.getpid()}}),
                is_active=False,
            )
            session.add(row)
            session.flush()
            return RunRecord.of(row)

    def update_run_dataset(self, run_id: int, dataset: dict[str, Any]) -> None:
        with session_scope(self._sessions) as session:
            session.execute(
                update(ModelTrainingRun).where(ModelTrainingRun.id == run_id).values(dataset=jsonable(dataset))
            )

    def complete_run(self, run_id: int, *, metrics: dict[str, Any], model_path: Path, sha256: str) -> RunRecord:
        with session_scope(self._sessions) as session:
            row = session.get_one(ModelTrainingRun, run_id)
            now = self._clock()
            row.status = COMPLETED
            row.finished_at = now
            row.duration_seconds = (now - row.started_at).total_seconds()
            row.metrics = jsonable(metrics)
            row.model_path = str(model_path)
            row.sha256 = sha256
            return RunRecord.of(row)

    def fail_run(self, run_id: int, error: str) -> None:
        """Mark a run failed. Recording a failure never fails on its message: what a database
        cannot store (lone surrogates, NUL) is escaped, and if the write still fails the run is
        failed with a plain message instead, so it never stays 'running'."""
        try:
            self._mark_failed(run_id, _storable(error))
        except Exception:
            log.exception("could not record the failure message of a run", extra={"run_id": run_id})
            self._mark_failed(run_id, "failed (the error message could not be stored; see the service log)")

    def _mark_failed(self, run_id: int, error: str) -> None:
        with session_scope(self._sessions) as session:
            row = session.get_one(ModelTrainingRun, run_id)
            now = self._clock()
            row.status = FAILED
            row.finished_at = now
            row.duration_seconds = (now - row.started_at).total_seconds()
            row.error = error[:4000]

    def heartbeat(self, run_id: int) -> None:
        """Record that the run is still training (called at most every HEARTBEAT_SECONDS)."""
        with session_scope(self._sessions) as session:
            session.execute(
                update(ModelTrainingRun)
                .where(ModelTrainingRun.id == run_id, ModelTrainingRun.status == RUNNING)
                .values(heartbeat_at=self._clock())
            )

    def heartbeat_every(self, run_id: int, seconds: float = HEARTBEAT_SECONDS) -> Callable[[], None]:
        """A callable that refreshes the heartbeat when ``seconds`` passed since the last refresh."""
        last = [self._clock()]

        def beat() -> None:
            now = self._clock()
            if (now - last[0]).total_seconds() >= seconds:
                last[0] = now
                try:
                    self.heartbeat(run_id)
                except Exception:  # a heartbeat that cannot be written never stops the training
                    log.warning("could not record the training heartbeat", extra={"run_id": run_id}, exc_info=True)

        return beat

    def fail_interrupted_runs(self) -> int:
        """Fail the runs left 'running' by a process that stopped (start-up), whatever host recorded them.

        A run is interrupted when its heartbeat (or, before the first one, its start) is older than
        STALE_AFTER — a training run refreshes it every HEARTBEAT_SECONDS — or, sooner, when it was
        recorded by a process of this host that no longer exists. A run whose heartbeat is fresh (a
        CLI run in progress, another replica's run) is left alone."""
        host, now = socket.gethostname(), self._clock()
        with session_scope(self._sessions) as session:
            rows = session.scalars(select(ModelTrainingRun).where(ModelTrainingRun.status == RUNNING)).all()
            failed = 0
            for row in rows:
                runner = (row.params or {}).get("runner") or {}
                seen = row.heartbeat_at or row.started_at
                silent = now - seen
                if runner.get("host") in (None, host) and not process_alive(runner.get("pid")):
                    why = f"the process running it ({runner.get('pid')}) stopped mid-run"
                elif silent > STALE_AFTER:
                    why = (
                        f"no heartbeat for {silent.total_seconds() / 60:.0f} min from {runner.get('host')} "
                        f"(process {runner.get('pid')})"
                    )
                else:
                    continue
                row.status = FAILED
                row.finished_at = now
                row.error = f"interrupted: {why}"
                failed += 1
            return failed

    def get_run(self, version: str) -> RunRecord | None:
        with self._sessions() as session:
            row = session.scalar(select(ModelTrainingRun).where(ModelTrainingRun.version == version))
            return RunRecord.of(row) if row is not None else None

    def get_run_by_id(self, run_id: int) -> RunRecord | None:
        with self._sessions() as session:
            row = session.get(ModelTrainingRun, run_id)
            return RunRecord.of(row) if row is not None else None

    def active_run(self) -> RunRecord | None:
        with self._sessions() as session:
            row = session.scalar(
                select(ModelTrainingRun)
                .where(ModelTrainingRun.is_active.is_(True))
                .order_by(ModelTrainingRun.activated_at.desc())
                .limit(1)
            )
            return RunRecord.of(row) if row is not None else None

    def latest_run(self) -> RunRecord | None:
        with self._sessions() as session:
            row = session.scalar(select(ModelTrainingRun).order_by(ModelTrainingRun.id.desc()).limit(1))
            return RunRecord.of(row) if row is not None else None

    def list_runs(self, *, limit: int, offset: int) -> tuple[int, list[RunRecord]]:
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(ModelTrainingRun)) or 0
            rows = session.scalars(
                select(ModelTrainingRun).order_by(ModelTrainingRun.id.desc()).limit(limit).offset(offset)
            ).all()
            return int(total), [RunRecord.of(r) for r in rows]


def _storable(text: str) -> str:
    """Text every database accepts: lone surrogates and NUL written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
