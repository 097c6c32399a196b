"""The foundation's HTTP surface: admin auth on every admin route, audit lines, settings, metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.api.routes import iter_api_routes
from backend.api.schemas.health import HealthResponse
from backend.api.security import require_admin
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory


def _uses(dependant: Any, call: Any) -> bool:
    return any(dep.call is call or _uses(dep, call) for dep in dependant.dependencies)


def admin_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route guarded by require_admin, discovered from the app itself."""
    found = []
    for route in iter_api_routes(app.routes):
        if _uses(route.dependant, require_admin):
            found += [(method, route.path) for method in sorted(route.methods)]
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nonexistent", path)


def _audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_admin_routes_are_discovered(client: TestClient) -> None:
    routes = admin_routes(client.app)
    assert ("GET", "/scheduler/status") in routes
    assert ("PUT", "/settings") in routes
    assert ("POST", "/scheduler/pause") in routes


def test_every_admin_route_answers_401_without_and_403_with_a_wrong_token(client: TestClient) -> None:
    routes = admin_routes(client.app)
    assert routes
    for method, path in routes:
        missing = client.request(method, _concrete(path))
        assert missing.status_code == 401, (method, path)
        assert missing.headers["WWW-Authenticate"].startswith("X-Admin-Token")
        wrong = client.request(method, _concrete(path), headers={"X-Admin-Token": "wrong"})
        assert wrong.status_code == 403, (method, path)


def test_every_admin_route_accepts_the_token(client: TestClient) -> None:
    for method, path in admin_routes(client.app):
        response = client.request(method, _concrete(path), headers=ADMIN_HEADERS, json={})
        assert response.status_code not in (401, 403), (method, path, response.text)
        assert response.status_code < 500, (method, path, response.text)


def test_refused_attempts_are_audited_without_the_token(client: TestClient, tmp_path: Path) -> None:
    client.get("/scheduler/status")
    client.get("/scheduler/status", headers={"X-Admin-Token": "not-the-token"})
    client.app.state.ctx.audit.close()  # writes the aggregated rest of the minute
    lines = _audit_lines(tmp_path / "audit.log")
    # the first refusal of a client's minute is a line; the rest of that minute one line with a count
    assert [line["outcome"] for line in lines] == ["refused: missing_token", "refused: bad_token"]
    assert lines[0]["action"] == "GET /scheduler/status"
    assert lines[0]["client"] == "203.0.113.7"
    assert lines[0]["count"] == 1
    assert lines[1]["count"] == 1
    assert lines[1]["reasons"] == {"bad_token": 1}
    assert lines[1]["sample_actions"] == ["GET /scheduler/status"]
    assert "not-the-token" not in (tmp_path / "audit.log").read_text()


def test_blank_token_in_development_disables_the_guard_only_when_told_so(
    client_for: Any, make_settings: SettingsFactory
) -> None:
    closed = client_for(make_settings(app={"QT_ADMIN_TOKEN": ""}))
    assert closed.get("/scheduler/status").status_code == 401
    assert "QT_ADMIN_TOKEN is not set" in closed.get("/scheduler/status").json()["detail"]
    client = client_for(make_settings(app={"QT_ADMIN_TOKEN": "", "QT_ADMIN_AUTH_DISABLED": True}))
    assert client.get("/health").json()["admin_auth"] == "disabled"
    assert client.get("/scheduler/status").status_code == 200


def test_health_reports_database_auth_and_scheduler(client: TestClient) -> None:
    body = client.get("/health").json()
    HealthResponse.model_validate(body)  # the hand-built body keeps the documented shape
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["admin_auth"] == "enabled"
    assert body["scheduler"]["running"] is False  # disabled in tests
    assert "max_notional" not in json.dumps(body)


def test_health_is_503_when_the_database_is_unreachable(client_for: Any, make_settings: SettingsFactory) -> None:
    settings = make_settings(database={"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    client = client_for(settings)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["database"]["reachable"] is False


def test_put_settings_with_a_bad_value_changes_nothing(client: TestClient, tmp_path: Path) -> None:
    before = client.get("/settings", headers=ADMIN_HEADERS).json()
    response = client.put(
        "/settings", headers=ADMIN_HEADERS, json={"QT_MAX_NOTIONAL_PER_TRADE": "abc", "QT_EXECUTION_MAX_ORDERS": 5}
    )
    assert response.status_code == 422
    assert "QT_MAX_NOTIONAL_PER_TRADE" in json.dumps(response.json())
    assert client.get("/settings", headers=ADMIN_HEADERS).json() == before
    refused = _audit_lines(tmp_path / "audit.log")[-1]
    assert refused["action"] == "PUT /settings"
    assert refused["outcome"] == "refused: invalid"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"QT_ADMIN_TOKEN": "x"}, "not tunable"),
        ({"QT_NO_SUCH_SETTING": 1}, "unknown setting"),
        ({"QT_LIQUIDITY_LIQ_WEIGHT": 0, "QT_LIQUIDITY_MODEL_WEIGHT": 0}, "cannot both be zero"),
        ({}, "no settings given"),
    ],
)
def test_put_settings_refusals_name_the_problem(client: TestClient, changes: dict[str, Any], fragment: str) -> None:
    response = client.put("/settings", headers=ADMIN_HEADERS, json=changes)
    assert response.status_code == 422
    assert fragment in json.dumps(response.json())


def test_put_settings_applies_persists_and_audits(client_for: Any, settings: Any, tmp_path: Path) -> None:
    client = client_for(settings)
    response = client.put(
        "/settings",
        headers=ADMIN_HEADERS,
        json={"QT_MAX_NOTIONAL_PER_TRADE": "750", "QUANTUM_TRADER_SYMBOLS": "solusdt"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["changed"]["QT_MAX_NOTIONAL_PER_TRADE"] == {"before": "1000", "after": "750"}
    items = {item["name"]: item for item in response.json()["settings"]}
    assert items["QT_MAX_NOTIONAL_PER_TRADE"]["source"] == "override"
    assert items["QUANTUM_TRADER_SYMBOLS"]["value"] == ["SOLUSDT"]
    assert items["QT_ADMIN_TOKEN"]["value"] == "**********"
    line = _audit_lines(tmp_path / "audit.log")[-1]
    assert line["outcome"] == "ok"
    assert line["before"]["QT_MAX_NOTIONAL_PER_TRADE"] == "1000"
    assert line["after"]["QT_MAX_NOTIONAL_PER_TRADE"] == "750"
    # a new process on the same database starts with the override
    restarted = client_for(settings)
    items = {item["name"]: item for item in restarted.get("/settings", headers=ADMIN_HEADERS).json()["settings"]}
    assert items["QT_MAX_NOTIONAL_PER_TRADE"]["value"] == "750"
    assert restarted.get("/health/scheduler").json()["symbols"] == ["SOLUSDT"]


def test_mutation_is_refused_with_503_when_the_audit_log_cannot_be_written(
    client_for: Any, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    client = client_for(make_settings(app={"QT_ADMIN_AUDIT_PATH": str(blocker / "audit.log")}))
    response = client.put("/settings", headers=ADMIN_HEADERS, json={"QT_EXECUTION_MAX_ORDERS": 3})
    assert response.status_code == 503
    assert "audit" in response.json()["detail"]
    items = {i["name"]: i for i in client.get("/settings", headers=ADMIN_HEADERS).json()["settings"]}
    assert items["QT_EXECUTION_MAX_ORDERS"]["value"] == 10


def test_metrics_label_routes_by_template_not_raw_path(client: TestClient) -> None:
    for n in range(20):
        client.get(f"/random/path/{n}")
    client.post("/scheduler/jobs/anything/run", headers=ADMIN_HEADERS)
    text = client.get("/metrics").text
    assert 'route="/random/path/0"' not in text
    assert 'http_requests_total{method="GET",route="unmatched",status="404"} 20.0' in text
    assert 'route="/scheduler/jobs/{job_id}/run"' in text


def test_oversized_bodies_are_refused(client: TestClient) -> None:
    response = client.put(
        "/settings",
        headers={**ADMIN_HEADERS, "Content-Type": "application/json"},
        content=b"{" + b" " * 2_000_000 + b"}",
    )
    assert response.status_code == 413


def test_unknown_job_is_404(client: TestClient) -> None:
    response = client.post("/scheduler/jobs/no-such-job/run", headers=ADMIN_HEADERS)
    assert response.status_code == 404


def test_pause_and_resume_are_audited(client: TestClient, tmp_path: Path) -> None:
    paused = client.post("/scheduler/pause", headers=ADMIN_HEADERS).json()
    assert paused["paused"] is True
    assert "QUANTUM_TRADER_DISABLE_SCHEDULER=1" in paused["reason"]  # the test app's scheduler is disabled
    assert client.post("/scheduler/resume", headers=ADMIN_HEADERS).json()["paused"] is False
    actions = [(line["action"], line["outcome"]) for line in _audit_lines(tmp_path / "audit.log")]
    assert actions == [("POST /scheduler/pause", "ok"), ("POST /scheduler/resume", "ok")]


def test_openapi_documents_every_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ["/health", "/health/scheduler", "/scheduler/status", "/settings", "/metrics"]:
        assert path in paths


def test_resume_with_the_scheduler_disabled_says_why_with_409(client: TestClient, tmp_path: Path) -> None:
    response = client.post("/scheduler/resume", headers=ADMIN_HEADERS)
    assert response.status_code == 409
    assert "nothing to resume" in response.json()["detail"]
    assert "QUANTUM_TRADER_DISABLE_SCHEDULER=1" in response.json()["detail"]
    assert _audit_lines(tmp_path / "audit.log")[-1]["outcome"] == "refused: disabled"


def test_openapi_and_docs_are_labelled_by_their_path_not_unmatched(client: TestClient) -> None:
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    metrics = client.get("/metrics").text
    assert 'route="/openapi.json"' in metrics
    assert 'route="/docs"' in metrics
    assert 'route="unmatched"' not in metrics
