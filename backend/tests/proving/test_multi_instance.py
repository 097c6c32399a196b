"""Beyond one machine: two real server processes on one PostgreSQL database.

Only the replica holding the leader lock runs jobs; the other reports "follower". When the leader
is SIGKILLed, PostgreSQL frees its advisory lock and the follower's next scheduled run leads. The
kill switch lives in PostgreSQL (QT_RISK_STATE_DB), so setting it through either process is seen
by both. Several uvicorn workers share one /metrics through PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from backend.tests.conftest import ADMIN_HEADERS, ADMIN_TOKEN, private_pg_database
from backend.tests.process import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LOCK_KEY = 724_411_001
CADENCES = {
    "QUANTUM_TRADER_REFRESH_SECONDS": "2",
    "QUANTUM_TRADER_LIQUIDITY_REFRESH_SECONDS": "3",
    "QUANTUM_TRADER_EXECUTION_SECONDS": "4",
}


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll a condition about the processes (not about time) until it holds; fail after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def private_pg() -> Iterator[str]:
    if not os.environ.get("QT_TEST_DATABASE_URL"):
        pytest.skip("needs QT_TEST_DATABASE_URL (two replicas share one PostgreSQL database)")
    with private_pg_database("qt_replicas", migrate=True) as url:
        yield url


def replica_env(url: str, workdir: Path, **extra: str) -> dict[str, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return {
        "DATABASE_URL": url,
        "QT_RISK_STATE_DB": url,
        "QT_ADMIN_TOKEN": ADMIN_TOKEN,
        "QT_ADMIN_AUDIT_PATH": str(workdir / "audit.log"),
        "QT_TRADES_LOG_PATH": str(workdir / "trades.log"),
        "QT_MODEL_ARTIFACTS_DIR": str(workdir.parent / "artifacts"),
        "QT_MODEL_AUTO_TRAIN": "0",
        "QT_SCHEDULER_LEADER_LOCK_KEY": str(LOCK_KEY),
        **extra,
    }


def scheduler(server: ServerProcess) -> dict[str, Any]:
    response = server.get("/health/scheduler")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# the jobs with the short test cadences (model-refresh runs every 60 s, so it may or may not fall in a window)
TRADING_JOBS = {"market-cache-refresh", "liquidity-refresh", "execution-rebalance"}


def runs_since(view: dict[str, Any], since: datetime) -> dict[str, str]:
    """job -> status of its last run, for the jobs whose last run started after `since`."""
    found = {}
    for job_id, job in view["jobs"].items():
        last = job["last_run"]
        if last and datetime.fromisoformat(last["started_at"].replace("Z", "+00:00")) > since:
            found[job_id] = last["status"]
    return found


def advisory_lock_holders(url: str) -> set[int]:
    """Backend pids of the sessions holding an advisory lock in this database."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
            return {int(pid) for (pid,) in rows}
    finally:
        engine.dispose()


def kill_switch(server: ServerProcess) -> bool:
    response = server.get("/risk", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    enabled: bool = response.json()["kill_switch"]["enabled"]
    return enabled


def test_one_leader_runs_jobs_and_a_follower_takes_over_when_it_is_killed(private_pg: str, tmp_path: Path) -> None:
    a = ServerProcess(replica_env(private_pg, tmp_path / "a", **CADENCES), tmp_path / "a.log")
    b = ServerProcess(replica_env(private_pg, tmp_path / "b", **CADENCES), tmp_path / "b.log")
    try:
        a.start()
        wait_for(lambda: scheduler(a)["role"] == "leader", "replica a to lead")
        b.start()
        wait_for(lambda: scheduler(b)["role"] == "follower", "replica b to report follower")

        # every job b scheduled was a follower run; a ran them for real
        started = datetime.now(UTC)
        wait_for(lambda: TRADING_JOBS <= runs_since(scheduler(b), started).keys(), "one run of each job on b")
        assert set(runs_since(scheduler(b), started).values()) == {"follower"}
        wait_for(lambda: TRADING_JOBS <= runs_since(scheduler(a), started).keys(), "one run of each job on a")
        assert "follower" not in runs_since(scheduler(a), started).values()
        metrics_b = b.get("/metrics").text
        assert re.search(r'scheduler_job_runs_total\{scheduler_job="[^"]+",status="follower"\} [1-9]', metrics_b)
        led = r'scheduler_job_runs_total\{scheduler_job="[^"]+",status="(ok|degraded|failed)"\}'
        assert not re.search(led, metrics_b)
        assert "scheduler_leader 0.0" in metrics_b
        assert "scheduler_leader 1.0" in a.get("/metrics").text

        holders = advisory_lock_holders(private_pg)
        assert len(holders) == 1  # a's session
        a.kill()
        # the lock dies with a's session; from then on, b's very next scheduled run leads
        wait_for(lambda: not advisory_lock_holders(private_pg) & holders, "PostgreSQL to end a's session")
        freed = datetime.now(UTC)
        first_runs = wait_for(lambda: runs_since(scheduler(b), freed) or None, "b's first run after the kill")
        assert "follower" not in first_runs.values(), first_runs
        wait_for(lambda: scheduler(b)["role"] == "leader", "b to report leader")
        wait_for(lambda: TRADING_JOBS <= runs_since(scheduler(b), freed).keys(), "every job to run on b")
        assert "follower" not in runs_since(scheduler(b), freed).values()
        assert len(advisory_lock_holders(private_pg) - holders) == 1  # b's session now
    finally:
        a.kill()
        b.kill()
    for log in (tmp_path / "a.log", tmp_path / "b.log"):
        assert "database is locked" not in log.read_text()


def test_kill_switch_and_settings_changed_through_either_replica_are_seen_by_both(
    private_pg: str, tmp_path: Path
) -> None:
    # each replica re-reads the shared risk state every health-probe interval
    env = {"QUANTUM_TRADER_DISABLE_SCHEDULER": "1", "QT_HEALTH_PROBE_SECONDS": "1"}
    a = ServerProcess(replica_env(private_pg, tmp_path / "a", **env), tmp_path / "a.log")
    b = ServerProcess(replica_env(private_pg, tmp_path / "b", **env), tmp_path / "b.log")
    try:
        a.start()
        b.start()
        assert kill_switch(a) is False
        assert kill_switch(b) is False

        on = b.post("/risk/kill-switch", headers=ADMIN_HEADERS, json={"enabled": True, "reason": "set on b"})
        assert on.status_code == 200, on.text
        assert kill_switch(b) is True
        wait_for(lambda: kill_switch(a) is True, "replica a to see the kill switch set on b")
        assert a.get("/health").json()["kill_switch"] is True

        off = a.post("/risk/kill-switch", headers=ADMIN_HEADERS, json={"enabled": False, "reason": "cleared on a"})
        assert off.status_code == 200, off.text
        assert kill_switch(a) is False
        wait_for(lambda: kill_switch(b) is False, "replica b to see the kill switch cleared on a")
        assert b.get("/health").json()["kill_switch"] is False
        # run-time settings accepted by one replica reach the other (its jobs read them)
        change = {"QT_MAX_NOTIONAL_PER_TRADE": "640"}
        put = httpx.put(f"{b.url}/settings", headers=ADMIN_HEADERS, json=change, timeout=30)
        assert put.status_code == 200, put.text
        wait_for(lambda: setting(a, "QT_MAX_NOTIONAL_PER_TRADE") == ("640", "override"), "a to apply b's setting")
        assert float(a.get("/risk", headers=ADMIN_HEADERS).json()["limits"]["max_notional_per_trade"]) == 640
        # the state outlives both processes
        b.kill()
        b.start()
        assert kill_switch(b) is False
        assert b.get("/risk", headers=ADMIN_HEADERS).json()["kill_switch"]["reason"] == "cleared on a"
    finally:
        a.kill()
        b.kill()


def setting(server: ServerProcess, name: str) -> tuple[Any, str]:
    items = server.get("/settings", headers=ADMIN_HEADERS).json()["settings"]
    item = next(i for i in items if i["name"] == name)
    return str(item["value"]), item["source"]


def _counter(metrics_text: str, route: str) -> float:
    pattern = rf'^http_requests_total\{{method="GET",route="{re.escape(route)}",status="200"\}} ([0-9.e+]+)$'
    return sum(float(v) for v in re.findall(pattern, metrics_text, re.MULTILINE))


def test_two_uvicorn_workers_share_one_metrics_view(private_pg: str, tmp_path: Path) -> None:
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = replica_env(
        private_pg,
        tmp_path / "w",
        QUANTUM_TRADER_DISABLE_SCHEDULER="1",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    server = ServerProcess(env, tmp_path / "workers.log", workers=2)
    try:
        server.start()
        requests = 60
        for _ in range(requests):
            response = server.get("/health/scheduler")
            assert response.status_code == 200
        # both workers answered and wrote their own files; any one of them reports the sum
        wait_for(lambda: len(list(multiproc.glob("counter_*.db"))) >= 2, "both workers to write metrics")
        pids = {p.stem.split("_")[-1] for p in multiproc.glob("counter_*.db")}
        assert len(pids) >= 2
        for _ in range(4):
            text_ = server.get("/metrics").text
            assert _counter(text_, "/health/scheduler") == requests
            assert "# TYPE http_request_duration_seconds histogram" in text_
            # gauges combine the live workers into one series (no pid label); on PostgreSQL the
            # leader lock is not taken while the scheduler is off, so no worker leads
            assert 'pid="' not in text_
            assert "\ndatabase_up 1.0\n" in text_
            assert "\nrisk_kill_switch_enabled 0.0\n" in text_, (tmp_path / "workers.log").read_text()[-3000:] + text_
    finally:
        # SIGTERM: the supervisor stops its workers (SIGKILL would orphan them)
        if server.proc is not None and server.proc.poll() is None:
            server.terminate()
