"""Public answers name the failing part and the kind of error only (issue 13, item 12): each fault
made for real (an unreachable database, a job failing on SQL, an unwritable audit log, a missing
model artifact, a rebalance with money), then /health, /health/scheduler and /ai/model-info are
read for paths, SQL, parameters, hosts and amounts; the details stay in the log and admin routes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from database.models.core import ModelTrainingRun
from database.session import make_engine

PUBLIC = ("/health", "/health/scheduler", "/ai/model-info")
# what an error text carries that a public answer must not
INTERNALS = ("[SQL", "SELECT", "INSERT", "parameters", "127.0.0.1", "port 1", "nobody", "s3cr3t")


def _public_text(client: TestClient) -> str:
    return "\n".join(client.get(path).text for path in PUBLIC)


def _assert_no_internals(body: str, *extra: str) -> None:
    for needle in (*INTERNALS, *extra):
        assert needle not in body, f"{needle!r} in a public answer: {body[:2000]}"


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def test_health_with_the_database_unreachable_says_database_and_the_kind(
    make_settings: SettingsFactory, client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = "postgresql+psycopg://nobody:s3cr3t@127.0.0.1:1/none"
    with caplog.at_level(logging.WARNING):
        client = client_for(make_settings(database={"DATABASE_URL": url}))
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["reasons"][0] == "database: OperationalError"
    assert body["database"]["error"] == "OperationalError"
    _assert_no_internals(response.text)
    # the details are in the service log
    logged = " ".join(str(getattr(r, "error", "")) for r in caplog.records if r.getMessage() == "database unreachable")
    assert "127.0.0.1" in logged


def test_a_job_failing_on_sql_is_public_as_its_kind_and_admin_sees_the_statement(
    client: TestClient, settings: Any
) -> None:
    engine = make_engine(settings.database.effective_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE liquidity_runs RENAME TO liquidity_runs_away"))
    try:
        assert client.post("/scheduler/jobs/market-cache-refresh/run", headers=ADMIN_HEADERS).status_code == 200
        run = client.post("/scheduler/jobs/liquidity-refresh/run", headers=ADMIN_HEADERS)
        assert run.status_code == 200
        assert run.json()["run"]["status"] == "failed", run.text
        health = client.get("/health").json()
        [reason] = [r for r in health["reasons"] if r.startswith("job liquidity-refresh")]
        assert reason.endswith(("OperationalError", "ProgrammingError", "UndefinedTable")), reason
        _assert_no_internals(_public_text(client), "liquidity_runs")
        admin = client.get("/scheduler/status", headers=ADMIN_HEADERS).text
        assert "liquidity_runs" in admin  # the admin route keeps the statement
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE liquidity_runs_away RENAME TO liquidity_runs"))
        engine.dispose()


def test_an_unwritable_audit_log_is_public_without_its_path(
    make_settings: SettingsFactory, client_for: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the audit directory should be")
    client = client_for(make_settings(app={"QT_ADMIN_AUDIT_PATH": str(blocker / "audit.log")}))
    assert client.put("/settings", headers=ADMIN_HEADERS, json={"QT_EXECUTION_MAX_ORDERS": 3}).status_code == 503
    health = client.get("/health").json()
    [reason] = [r for r in health["reasons"] if r.startswith("audit: cannot write")]
    assert reason.startswith("audit: cannot write the audit log <path>: "), reason  # the OS's reason stays
    _assert_no_internals(_public_text(client), str(tmp_path), "not-a-dir")
    # the operator finds the path in the admin settings
    assert str(blocker / "audit.log") in client.get("/settings", headers=ADMIN_HEADERS).text


def test_a_missing_model_artifact_is_public_without_its_path(client: TestClient, settings: Any) -> None:
    registry = client.app.state.ctx.services["model_registry"]
    run = registry.start_run(dataset={"source": f"replay:{settings.model.artifacts_dir}/replay"}, params={})
    model_dir = registry.model_dir(run.version)  # never written: the artifact is missing
    registry.complete_run(run.id, metrics={}, model_path=model_dir / "model.ubj", sha256="0" * 64)
    engine = make_engine(settings.database.effective_url)
    with engine.begin() as conn:
        conn.execute(update(ModelTrainingRun).where(ModelTrainingRun.id == run.id).values(is_active=True))
    engine.dispose()
    assert client.post("/scheduler/jobs/model-refresh/run", headers=ADMIN_HEADERS).status_code == 200
    health = client.get("/health").json()
    assert health["model"]["status"] == "refused"
    assert "missing" in health["model"]["reason"]
    assert any(r.startswith("model: ") and "missing" in r for r in health["reasons"]), health["reasons"]
    info = client.get("/ai/model-info").json()
    assert info["status"] == "refused"
    assert info["model_path"] == f"{run.version}/model.ubj"
    assert info["data"]["source"] == "replay:<path>"
    artifacts = str(settings.model.artifacts_dir)
    _assert_no_internals(_public_text(client), artifacts, str(model_dir))
    # the admin run record keeps the full path
    detail = client.get(f"/ai/runs/{run.id}", headers=ADMIN_HEADERS).json()
    assert detail["model_path"] == str(model_dir / "model.ubj")


def test_health_scheduler_shows_the_gross_exposure_but_no_cash_or_equity(client: TestClient) -> None:
    for job in ("market-cache-refresh", "liquidity-refresh", "execution-rebalance", "portfolio-mark"):
        assert client.post(f"/scheduler/jobs/{job}/run", headers=ADMIN_HEADERS).status_code == 200, job
    admin = client.get("/scheduler/status", headers=ADMIN_HEADERS).json()
    assert admin["execution"]["cash"] is not None
    assert admin["execution"]["equity"] is not None
    public = client.get("/health/scheduler").json()
    assert public["execution"]["gross_exposure"] == admin["execution"]["gross_exposure"]
    money = {"cash", "equity", "balance", "balances", "pnl", "realised_pnl", "unrealised_pnl"}
    assert money.isdisjoint(_keys(public)), sorted(money.intersection(_keys(public)))
    for figure in (admin["execution"]["cash"], admin["execution"]["equity"]):
        assert json.dumps(figure) not in json.dumps(public)
