"""The read-only fallback of the database-corruption runbook, end to end.

The service starts on a snapshot with QT_DATABASE_READ_ONLY=1 (or a SQLite URL opened read-only),
serves every read endpoint, pauses the jobs that write, answers every mutation with 503 and a
reason, says "read_only" in /health, and leaves the snapshot byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.api.routes import iter_api_routes
from backend.api.security import require_writable
from backend.execution.snapshots import PRUNE_JOB
from backend.main import create_app
from backend.scheduler.jobs.execution import JOB_ID as EXECUTION_JOB
from backend.scheduler.jobs.liquidity import JOB_ID as LIQUIDITY_JOB
from backend.scheduler.jobs.portfolio import JOB_ID as MARK_JOB
from backend.scheduler.jobs.resting import JOB_ID as RESTING_JOB
from backend.scheduler.jobs.retrain import RETRAIN_JOB_ID, SHADOW_JOB_ID
from backend.scheduler.runner import RunStatus
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from config.database import DatabaseSettings

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
# the jobs that write and are always scheduled; the others that write are scheduled by their settings
CORE_WRITING_JOBS = (LIQUIDITY_JOB, EXECUTION_JOB, MARK_JOB)
WRITING_JOBS = (*CORE_WRITING_JOBS, RETRAIN_JOB_ID, SHADOW_JOB_ID, PRUNE_JOB, RESTING_JOB)
ClientFor = Callable[[Any], TestClient]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _uses(dependant: Any, call: Any) -> bool:
    return any(dep.call is call or _uses(dep, call) for dep in dependant.dependencies)


def _routes(app: Any) -> list[tuple[str, str, Any]]:
    return [(method, route.path, route) for route in iter_api_routes(app.routes) for method in sorted(route.methods)]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nonexistent", path)


def test_every_mutating_route_refuses_in_read_only_mode(settings: Any) -> None:
    """Discovered from the app: a new POST/PUT/PATCH/DELETE route without WritableDep fails here."""
    app = create_app(settings)
    mutating = [(method, path) for method, path, route in _routes(app) if method not in READ_METHODS]
    assert ("PUT", "/settings") in mutating
    missing = [
        (method, path)
        for method, path, route in _routes(app)
        if method not in READ_METHODS and not _uses(route.dependant, require_writable)
    ]
    assert missing == [], f"mutating routes without WritableDep (backend.api.deps): {missing}"


@pytest.fixture
def snapshot(make_settings: SettingsFactory, sqlite_url: str, tmp_path: Path) -> Path:
    """A database written by the service itself (a settings override, a liquidity and an execution
    run when those succeed), then copied as an operator would take a backup."""
    live = Path(sqlite_url.removeprefix("sqlite:///"))
    with _started(make_settings(database={"DATABASE_URL": sqlite_url})) as client:
        answer = client.put("/settings", json={"QT_MAX_DAILY_LOSS": "250"}, headers=ADMIN_HEADERS)
        assert answer.status_code == 200, answer.text
        for job in CORE_WRITING_JOBS:
            client.post(f"/scheduler/jobs/{job}/run", headers=ADMIN_HEADERS)  # best effort: data to read back
    path = tmp_path / "snapshots" / "last-good.db"
    path.parent.mkdir()
    for suffix in ("", "-wal"):
        if live.with_name(live.name + suffix).exists():
            shutil.copyfile(live.with_name(live.name + suffix), path.with_name(path.name + suffix))
    return path


def _started(settings: Any) -> TestClient:
    """A client whose lifespan runs inside ``with`` (so the test decides when the service stops)."""
    return TestClient(create_app(settings), client=("203.0.113.7", 50000))


def _read_only_settings(make_settings: SettingsFactory, url: str, **flags: Any) -> Any:
    settings = make_settings(
        database={"DATABASE_URL": url, **flags},
        # the scheduler runs: the jobs that write must be paused by read-only mode, not by a switch
        scheduler={"QUANTUM_TRADER_DISABLE_SCHEDULER": False},
    )
    assert settings.database.read_only
    return settings


@pytest.mark.parametrize(
    "how",
    ["flag", "sqlite-uri"],
    ids=["QT_DATABASE_READ_ONLY=1", "sqlite-url-mode-ro"],
)
def test_service_runs_read_only_on_a_snapshot_without_changing_it(
    make_settings: SettingsFactory, snapshot: Path, how: str
) -> None:
    before = {p.name: sha256(p) for p in snapshot.parent.iterdir()}
    if how == "flag":
        settings = _read_only_settings(make_settings, f"sqlite:///{snapshot}", QT_DATABASE_READ_ONLY=True)
    else:
        settings = _read_only_settings(make_settings, f"sqlite:///file:{snapshot}?mode=ro&uri=true")
    with _started(settings) as client:
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "read_only"
        assert health.json()["read_only"] is True

        # reads come from the snapshot: the override written before the incident is still in force
        described = client.get("/settings", headers=ADMIN_HEADERS).json()["settings"]
        loss = next(item for item in described if item["name"] == "QT_MAX_DAILY_LOSS")
        assert (loss["source"], loss["value"]) == ("override", "250")

        # every read endpoint answers (with the token where it needs one)
        for method, path, _route in _routes(client.app):
            if method == "GET":
                answer = client.get(_concrete(path), headers=ADMIN_HEADERS)
                assert answer.status_code < 500, f"GET {path} -> {answer.status_code}: {answer.text[:300]}"

        # every mutation is refused with the reason, before anything changes
        for method, path, _route in _routes(client.app):
            if method not in READ_METHODS:
                answer = client.request(method, _concrete(path), headers=ADMIN_HEADERS, json={})
                assert answer.status_code == 503, f"{method} {path} -> {answer.status_code}"
                assert "read-only" in answer.json()["detail"]

        # the jobs that write are not scheduled, and a direct run is skipped
        jobs = client.get("/health/scheduler").json()["jobs"]
        for job in CORE_WRITING_JOBS:
            assert jobs[job]["trigger"] == "not scheduled"
        run = client.portal.call(client.app.state.ctx.runner.run_now, LIQUIDITY_JOB)  # type: ignore[union-attr]
        assert run.status is RunStatus.SKIPPED

    after = {p.name: sha256(p) for p in snapshot.parent.iterdir()}
    assert after[snapshot.name] == before[snapshot.name]
    assert set(after) <= set(before) | {f"{snapshot.name}-shm", f"{snapshot.name}-wal"}
    for name in set(before) & set(after):
        if not name.endswith("-shm"):  # SQLite's shared-memory index, rebuilt by every reader
            assert after[name] == before[name], name


def _write_refusals(records: list[logging.LogRecord]) -> list[str]:
    """Log lines (message and extras) showing that something tried to write and was refused."""
    found = []
    for record in records:
        text = " ".join(str(value) for value in record.__dict__.values()).lower()
        if "readonly database" in text or "read-only transaction" in text:
            found.append(f"{record.name}: {record.getMessage()}")
    return found


def test_the_read_only_engine_refuses_writes(
    make_settings: SettingsFactory, client_for: ClientFor, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """On SQLite (mode=ro) and PostgreSQL (read-only transactions) a write cannot slip through,
    and start-up attempts none (a refused write would be logged by the component that tried)."""
    with caplog.at_level(logging.DEBUG):
        client = client_for(_read_only_settings(make_settings, database_url, QT_DATABASE_READ_ONLY=True))
        assert client.get("/health").json()["status"] == "read_only"
    assert _write_refusals(caplog.records) == []
    engine = client.app.state.ctx.engine  # type: ignore[union-attr]
    with pytest.raises(DBAPIError, match=r"(?i)read.?only"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runtime_settings (name, value, updated_at, updated_by) "
                "VALUES ('QT_MAX_DAILY_LOSS', '\"1\"', CURRENT_TIMESTAMP, 'test')"
            )
        )
    answer = client.put("/settings", json={"QT_MAX_DAILY_LOSS": "1"}, headers=ADMIN_HEADERS)
    assert answer.status_code == 503


@pytest.mark.parametrize(
    ("url", "read_only"),
    [
        ("sqlite:///file:/srv/snap.db?mode=ro&uri=true", True),
        ("sqlite:///file:/srv/snap.db?immutable=1&uri=true", True),
        ("sqlite:////srv/live.db", False),
        ("postgresql+psycopg://u@h/db", False),
    ],
)
def test_a_sqlite_url_opened_read_only_means_read_only_mode(url: str, read_only: bool) -> None:
    assert DatabaseSettings(_env_file=None, DATABASE_URL=url).read_only is read_only  # type: ignore[call-arg]


def test_every_job_either_is_skipped_or_runs_without_writing(make_settings: SettingsFactory, snapshot: Path) -> None:
    """Jobs that only read keep caches and the model fresh on the snapshot; they must not fail on it."""
    before = sha256(snapshot)
    settings = make_settings(database={"DATABASE_URL": f"sqlite:///{snapshot}", "QT_DATABASE_READ_ONLY": True})
    with _started(settings) as client:
        runner = client.app.state.ctx.runner  # type: ignore[union-attr]
        assert set(CORE_WRITING_JOBS) <= set(runner.job_ids())
        for job in runner.job_ids():
            run = client.portal.call(runner.run_now, job)  # type: ignore[union-attr]
            if job in WRITING_JOBS:
                assert run.status is RunStatus.SKIPPED, job
            else:
                assert run.status in (RunStatus.OK, RunStatus.DEGRADED), f"{job}: {run.status} {run.error}"
                assert "readonly" not in str(run.errors).replace("-", "").replace(" ", "").lower(), job
    assert sha256(snapshot) == before


def test_read_only_jobs_take_the_leader_lock_and_run_on_either_database(
    make_settings: SettingsFactory, database_url: str
) -> None:
    """On PostgreSQL the leader lock (an advisory lock) must work inside read-only transactions."""
    settings = make_settings(database={"DATABASE_URL": database_url, "QT_DATABASE_READ_ONLY": True})
    with _started(settings) as client:
        runner = client.app.state.ctx.runner  # type: ignore[union-attr]
        for job in runner.job_ids():
            run = client.portal.call(runner.run_now, job)  # type: ignore[union-attr]
            expected = {RunStatus.SKIPPED} if job in WRITING_JOBS else {RunStatus.OK, RunStatus.DEGRADED}
            assert run.status in expected, f"{job}: {run.status} {run.error} {run.errors}"
        assert client.get("/health/scheduler").json()["role"] == "leader"
