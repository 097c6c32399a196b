"""The job wrapper: every scheduled or manual run goes through `JobRunner._execute`.

It takes the leader lock (PostgreSQL), measures the run, records outcome and errors in memory and
in Prometheus, and contains every exception so a failing job never stops the scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from backend.observability.metrics import Metrics
from backend.scheduler.leader import LeaderLock
from config.runtime import SettingsHolder
from config.settings import Settings

log = logging.getLogger(__name__)


class RunStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"
    FOLLOWER = "follower"  # another replica holds the leader lock
    SKIPPED = "skipped"  # read-only mode, or a precondition not met


@dataclass
class JobResult:
    """What a job reports: ok or degraded, per-item errors and details for the status snapshot."""

    status: RunStatus = RunStatus.OK
    errors: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


JobFunc = Callable[[], Awaitable[JobResult | None]]


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    func: JobFunc
    description: str
    seconds: Callable[[Settings], int]  # cadence from the settings; 0 = not scheduled
    enabled: Callable[[Settings], bool] = lambda _settings: True
    writes: bool = True  # paused in read-only mode


@dataclass
class JobRun:
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    status: RunStatus
    manual: bool
    error: str | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class JobState:
    spec: JobSpec
    running: bool = False
    last_run: JobRun | None = None
    details: dict[str, Any] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JobBusyError(RuntimeError):
    """The job is already running; a second run is refused, not queued."""


class UnknownJobError(KeyError):
    pass


class JobRunner:
    def __init__(
        self,
        settings: SettingsHolder,
        metrics: Metrics,
        *,
        leader: LeaderLock | None = None,
        read_only: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._leader = leader
        self._read_only = read_only
        self._clock = clock
        self._jobs: dict[str, JobState] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._paused = False
        self._run_listeners: list[Callable[[str, JobRun], None]] = []
        self._closed = False  # after shutdown the leader lock is never taken again
        self.role = "leader" if leader is None else "unknown"
        metrics.scheduler_leader.set(1 if leader is None else 0)
        settings.subscribe(self._on_settings_change)

    # registration and lifecycle -------------------------------------------------------------
    def add(self, spec: JobSpec) -> None:
        if spec.job_id in self._jobs:
            raise ValueError(f"job {spec.job_id} registered twice")
        self._jobs[spec.job_id] = JobState(spec=spec)
        if self._scheduler is not None:
            self._schedule(self._jobs[spec.job_id])

    def on_run(self, listener: Callable[[str, JobRun], None]) -> None:
        """Call ``listener(job_id, run)`` after every run (the notifier; it must not block)."""
        self._run_listeners.append(listener)

    def start(self) -> None:
        """Start the APScheduler (call inside the running event loop)."""
        settings = self._settings.current.scheduler
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": settings.misfire_grace_seconds,
            },
        )
        for state in self._jobs.values():
            self._schedule(state)
        self._scheduler.start()

    async def shutdown(self) -> None:
        self._closed = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        # let runs in progress finish their current step
        for state in self._jobs.values():
            if state.running:
                async with state.lock:
                    pass
        if self._leader is not None:
            await asyncio.to_thread(self._leader.release)

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running and not self._paused

    def pause(self) -> None:
        if self._scheduler is not None:
            self._scheduler.pause()
        self._paused = True

    def resume(self) -> None:
        if self._scheduler is not None:
            self._scheduler.resume()
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    # scheduling -----------------------------------------------------------------------------
    def _cadence(self, spec: JobSpec, settings: Settings) -> int:
        if not spec.enabled(settings):
            return 0
        if self._read_only and spec.writes:
            return 0
        return spec.seconds(settings)

    def _schedule(self, state: JobState) -> None:
        if self._scheduler is None:
            return
        spec = state.spec
        seconds = self._cadence(spec, self._settings.current)
        existing = self._scheduler.get_job(spec.job_id)
        if seconds <= 0:
            if existing is not None:
                existing.remove()
            return
        trigger = IntervalTrigger(seconds=seconds, timezone=UTC)
        if existing is not None:
            existing.reschedule(trigger)
            return
        self._scheduler.add_job(
            self._execute,
            trigger=trigger,
            args=[spec.job_id],
            id=spec.job_id,
            name=spec.description,
            # the first run soon after start-up, so caches warm and /health/scheduler fills quickly
            next_run_time=self._clock() + timedelta(seconds=1),
            replace_existing=True,
        )

    def _on_settings_change(self, old: Settings, new: Settings) -> None:
        if self._scheduler is None:
            return
        for state in self._jobs.values():
            if self._cadence(state.spec, old) != self._cadence(state.spec, new):
                self._schedule(state)

    # running ----------------------------------------------------------------------------------
    async def run_now(self, job_id: str) -> JobRun:
        """Run a job once, now, through the same wrapper; JobBusyError while it runs."""
        state = self._jobs.get(job_id)
        if state is None:
            raise UnknownJobError(job_id)
        if state.running:
            raise JobBusyError(job_id)
        run = await self._execute(job_id, manual=True)
        if run is None:
            raise JobBusyError(job_id)
        return run

    def leader_epoch(self) -> int | None:
        """The current leadership term (None without a leader lock: one process, nothing to fence)."""
        return None if self._leader is None else self._leader.epoch

    async def still_leads(self) -> bool:
        """Proof, right before an order is sent, that this process still holds the leader lock."""
        if self._leader is None:
            return True
        return await self._leader.still_leads()

    async def is_leader(self) -> bool:
        """Whether this process leads (takes the leader lock if it is free); False when unsure."""
        try:
            return await self._is_leader()
        except Exception as exc:
            log.warning("leader lock check failed", extra={"error": str(exc).splitlines()[0]})
            return False

    async def _is_leader(self) -> bool:
        if self._leader is None:
            return True
        if self._closed:
            # background tasks still stopping (the notification sender) must not take the lock again:
            # nothing would release it
            return False
        try:
            leader = await self._leader.acquire()
        except Exception:
            # the database is unreachable: not "another replica leads" but a failed run
            self.role = "unknown"
            self._metrics.scheduler_leader.set(0)
            raise
        self.role = "leader" if leader else "follower"
        self._metrics.scheduler_leader.set(1 if leader else 0)
        return leader

    async def _execute(self, job_id: str, manual: bool = False) -> JobRun | None:
        state = self._jobs[job_id]
        if state.lock.locked():
            return None
        async with state.lock:
            state.running = True
            started = self._clock()
            t0 = time.perf_counter()
            error: str | None = None
            errors: dict[str, str] = {}
            try:
                if self._read_only and state.spec.writes:
                    status = RunStatus.SKIPPED
                    error = "read-only mode: jobs that write are paused"
                elif not await self._is_leader():
                    status = RunStatus.FOLLOWER
                else:
                    result = await state.spec.func() or JobResult()
                    status = result.status
                    errors = dict(result.errors)
                    state.details = dict(result.details)
            except Exception as exc:
                status = RunStatus.FAILED
                error = f"{type(exc).__name__}: {exc}"
                log.exception("job failed", extra={"job": job_id})
            finally:
                state.running = False
            duration = time.perf_counter() - t0
            run = JobRun(
                started_at=started,
                finished_at=self._clock(),
                duration_seconds=duration,
                status=status,
                manual=manual,
                error=error,
                errors=errors,
            )
            state.last_run = run
            for listener in self._run_listeners:
                try:
                    listener(job_id, run)
                except Exception:  # a listener must never fail a job
                    log.exception("job run listener failed", extra={"job": job_id})
            self._metrics.scheduler_job_runs.labels(scheduler_job=job_id, status=status.value).inc()
            if status not in (RunStatus.FOLLOWER, RunStatus.SKIPPED):
                self._metrics.scheduler_job_duration.labels(scheduler_job=job_id).observe(duration)
            log.info(
                "job run",
                extra={"job": job_id, "status": status.value, "duration_s": round(duration, 4), "manual": manual},
            )
            return run

    # status -------------------------------------------------------------------------------------
    def job_ids(self) -> list[str]:
        return list(self._jobs)

    def is_running(self, job_id: str) -> bool:
        state = self._jobs.get(job_id)
        return bool(state and state.running)

    def details(self, job_id: str) -> dict[str, Any]:
        state = self._jobs.get(job_id)
        return dict(state.details) if state else {}

    def snapshot(self) -> dict[str, Any]:
        """Plain data for /health/scheduler and /scheduler/status."""
        settings = self._settings.current
        jobs: dict[str, Any] = {}
        for job_id, state in self._jobs.items():
            seconds = self._cadence(state.spec, settings)
            aps_job = self._scheduler.get_job(job_id) if self._scheduler is not None else None
            next_run = getattr(aps_job, "next_run_time", None) if aps_job is not None else None
            last = state.last_run
            jobs[job_id] = {
                "description": state.spec.description,
                "trigger": f"interval[{seconds}s]" if seconds > 0 else "not scheduled",
                "interval_seconds": seconds,
                "enabled": state.spec.enabled(settings),
                "running": state.running,
                "next_run_time": next_run.astimezone(UTC) if next_run else None,
                "last_run": None
                if last is None
                else {
                    "started_at": last.started_at,
                    "finished_at": last.finished_at,
                    "duration_seconds": round(last.duration_seconds, 6),
                    "status": last.status.value,
                    "manual": last.manual,
                    "error": last.error,
                    "errors": last.errors,
                },
                "details": state.details,
            }
        return {"running": self.running, "paused": self._paused, "role": self.role, "jobs": jobs}

    def summary(self) -> dict[str, str | None]:
        """job id -> status of its last run (None: not run yet); cheap, for /health."""
        return {
            job_id: (state.last_run.status.value if state.last_run is not None else None)
            for job_id, state in self._jobs.items()
        }

    def problems(self) -> dict[str, str]:
        """job id -> one line on why its last run failed or was degraded (cheap, for /health)."""
        found: dict[str, str] = {}
        for job_id, state in self._jobs.items():
            last = state.last_run
            if last is None or last.status not in (RunStatus.FAILED, RunStatus.DEGRADED):
                continue
            detail = last.error or "; ".join(f"{key}: {value}" for key, value in list(last.errors.items())[:3])
            found[job_id] = f"{last.status.value}" + (f": {detail}" if detail else "")
        return found

    def overall_status(self) -> tuple[str, dict[str, Any]]:
        """ok unless some job's last run failed or was degraded; errors keyed by job id."""
        errors: dict[str, Any] = {}
        for job_id, state in self._jobs.items():
            last = state.last_run
            if last is None:
                continue
            if last.status in (RunStatus.FAILED, RunStatus.DEGRADED):
                errors[job_id] = last.error or last.errors or last.status.value
        return ("degraded" if errors else "ok"), errors
