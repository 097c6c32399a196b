"""The job wrapper: outcomes, contained failures, cadences, manual runs, read-only, leader lock."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import create_engine, text

from backend.observability.metrics import Metrics
from backend.scheduler.leader import LeaderLock
from backend.scheduler.runner import JobBusyError, JobResult, JobRunner, JobSpec, RunStatus
from backend.tests.conftest import SettingsFactory
from config.runtime import SettingsHolder


def _runner(make_settings: SettingsFactory, *, read_only: bool = False, **scheduler: object) -> JobRunner:
    holder = SettingsHolder(make_settings(scheduler={"QUANTUM_TRADER_DISABLE_SCHEDULER": False, **scheduler}))
    return JobRunner(holder, Metrics(), read_only=read_only)


def _count(runner: JobRunner, job: str, status: str) -> float:
    value = runner._metrics.registry.get_sample_value(
        "scheduler_job_runs_total", {"scheduler_job": job, "status": status}
    )
    return value or 0.0


async def test_a_failing_job_is_recorded_and_contained(make_settings: SettingsFactory) -> None:
    runner = _runner(make_settings)
    calls = 0

    async def flaky() -> JobResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("exchange down")
        return JobResult(details={"n": calls})

    runner.add(JobSpec("flaky", flaky, "a flaky job", seconds=lambda s: 0))
    first = await runner.run_now("flaky")
    assert first.status is RunStatus.FAILED
    assert first.error == "RuntimeError: exchange down"
    assert runner.overall_status() == ("degraded", {"flaky": "RuntimeError: exchange down"})
    second = await runner.run_now("flaky")
    assert second.status is RunStatus.OK
    assert runner.details("flaky") == {"n": 2}
    assert runner.overall_status() == ("ok", {})
    assert _count(runner, "flaky", "failed") == 1
    assert _count(runner, "flaky", "ok") == 1


async def test_degraded_results_keep_their_errors(make_settings: SettingsFactory) -> None:
    runner = _runner(make_settings)

    async def partial() -> JobResult:
        return JobResult(status=RunStatus.DEGRADED, errors={"ETHUSDT": "timeout"})

    runner.add(JobSpec("partial", partial, "partial", seconds=lambda s: 0))
    run = await runner.run_now("partial")
    assert run.status is RunStatus.DEGRADED
    assert runner.snapshot()["jobs"]["partial"]["last_run"]["errors"] == {"ETHUSDT": "timeout"}


async def test_a_running_job_refuses_a_second_run(make_settings: SettingsFactory) -> None:
    runner = _runner(make_settings)
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await release.wait()

    runner.add(JobSpec("slow", slow, "slow", seconds=lambda s: 0))
    first = asyncio.create_task(runner.run_now("slow"))
    await started.wait()
    assert runner.is_running("slow")
    with pytest.raises(JobBusyError):
        await runner.run_now("slow")
    release.set()
    assert (await first).status is RunStatus.OK


async def test_cadence_zero_is_not_scheduled_and_settings_changes_reschedule(make_settings: SettingsFactory) -> None:
    runner = _runner(make_settings, QUANTUM_TRADER_REFRESH_SECONDS=0)

    async def noop() -> None:
        return None

    runner.add(JobSpec("market", noop, "market", seconds=lambda s: s.scheduler.refresh_seconds))
    runner.start()
    try:
        job = runner.snapshot()["jobs"]["market"]
        assert job["trigger"] == "not scheduled"
        assert job["next_run_time"] is None
        assert runner.running
        runner._settings.apply({"QUANTUM_TRADER_REFRESH_SECONDS": 120})
        job = runner.snapshot()["jobs"]["market"]
        assert job["trigger"] == "interval[120s]"
        assert job["next_run_time"] is not None
    finally:
        await runner.shutdown()


async def test_disabled_job_is_not_scheduled(make_settings: SettingsFactory) -> None:
    runner = _runner(make_settings, QUANTUM_TRADER_DISABLE_LIQUIDITY=True)

    async def noop() -> None:
        return None

    runner.add(
        JobSpec(
            "liquidity-refresh",
            noop,
            "liquidity",
            seconds=lambda s: s.scheduler.liquidity_refresh_seconds,
            enabled=lambda s: not s.scheduler.liquidity_disabled,
        )
    )
    runner.start()
    try:
        assert runner.snapshot()["jobs"]["liquidity-refresh"]["trigger"] == "not scheduled"
    finally:
        await runner.shutdown()


async def test_scheduled_jobs_run_through_the_wrapper(make_settings: SettingsFactory) -> None:
    runner = _runner(make_settings)
    ran = asyncio.Event()

    async def tick() -> None:
        ran.set()

    runner.add(JobSpec("tick", tick, "tick", seconds=lambda s: 3600))
    runner.start()
    try:
        await asyncio.wait_for(ran.wait(), timeout=30)  # the first run comes ~1 s after start
        for _ in range(100):
            if runner.snapshot()["jobs"]["tick"]["last_run"]:
                break
            await asyncio.sleep(0.01)
        assert runner.snapshot()["jobs"]["tick"]["last_run"]["status"] == "ok"
    finally:
        await runner.shutdown()


async def test_read_only_mode_skips_jobs_that_write(make_settings: SettingsFactory) -> None:
    runner = _runner(make_settings, read_only=True)
    called = False

    async def writer() -> None:
        nonlocal called
        called = True

    runner.add(JobSpec("writer", writer, "writes", seconds=lambda s: 60))
    run = await runner.run_now("writer")
    assert run.status is RunStatus.SKIPPED
    assert not called


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("QT_TEST_DATABASE_URL")
    if not url:
        pytest.skip("needs QT_TEST_DATABASE_URL (the leader lock is a PostgreSQL advisory lock)")
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


@pytest.mark.postgres
async def test_only_one_replica_leads_and_a_follower_takes_over(
    make_settings: SettingsFactory, postgres_url: str
) -> None:
    engine_a, engine_b = create_engine(postgres_url), create_engine(postgres_url)
    key = 990_001 + os.getpid()
    runs: list[str] = []

    def replica(name: str, engine: object) -> JobRunner:
        holder = SettingsHolder(make_settings())
        runner = JobRunner(holder, Metrics(), leader=LeaderLock(engine, key))  # type: ignore[arg-type]

        async def job() -> None:
            runs.append(name)

        runner.add(JobSpec("job", job, "job", seconds=lambda s: 0))
        return runner

    a, b = replica("a", engine_a), replica("b", engine_b)
    try:
        assert (await a.run_now("job")).status is RunStatus.OK
        assert (await b.run_now("job")).status is RunStatus.FOLLOWER
        assert b.role == "follower"
        assert a.role == "leader"
        await a.shutdown()  # the leader goes away: its lock is released
        assert (await b.run_now("job")).status is RunStatus.OK
        assert b.role == "leader"
        assert runs == ["a", "b"]
    finally:
        await b.shutdown()
        engine_a.dispose()
        engine_b.dispose()


@pytest.mark.postgres
async def test_the_leader_proves_it_still_holds_the_lock_and_each_term_has_a_new_epoch(postgres_url: str) -> None:
    engine_a, engine_b = create_engine(postgres_url), create_engine(postgres_url)
    key = 990_500 + os.getpid()
    a, b = LeaderLock(engine_a, key), LeaderLock(engine_b, key)
    try:
        assert await a.acquire()
        first = a.epoch
        assert first is not None
        assert await a.still_leads()
        assert not await b.still_leads()  # never acquired
        assert not await b.acquire()
        # the lock's session dies (a network cut, a stalled leader's connection killed)
        with engine_b.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND classid = 0 AND objid = :key"
                ),
                {"key": key},
            )
        assert not await a.still_leads()
        assert await b.acquire()
        assert b.epoch is not None
        assert b.epoch != first
    finally:
        a.release()
        b.release()
        engine_a.dispose()
        engine_b.dispose()
