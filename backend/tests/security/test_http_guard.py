"""The HTTP surface (issue 13, items 4, 12, 14 and 15): no cross-site or DNS-rebinding admin call,
JSON-only mutations, security headers, offline docs, a correct Allow, bounded metric labels, wildcard
CORS refused outside development, and public answers without internals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from backend.tests.security.helpers import JSON_HEADERS, audit_lines
from config.settings import ConfigError, load_settings

HEADERS = {**ADMIN_HEADERS, **JSON_HEADERS}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def open_client(client_for: Any, make_settings: SettingsFactory) -> TestClient:
    """The development default the issue found open: a blank token with the guard disabled."""
    client: TestClient = client_for(make_settings(app={"QT_ADMIN_TOKEN": "", "QT_ADMIN_AUTH_DISABLED": True}))
    return client


@pytest.mark.parametrize("path", ["/scheduler/pause", "/risk/reset"])
def test_a_cross_site_form_post_is_refused(open_client: TestClient, path: str, tmp_path: Path) -> None:
    response = open_client.post(path, headers={"Origin": "https://evil.example", **FORM}, content=b"a=1")
    assert response.status_code in (403, 415)
    response = open_client.post(path, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "cross-origin" in response.json()["detail"]
    response = open_client.post(path, headers={"Content-Type": "text/plain"}, content=b'{"enabled":true}')
    assert response.status_code == 415
    assert open_client.get("/scheduler/status").json()["paused"] is False
    # each refusal is one audit line, and none says ok
    lines = [line for line in audit_lines(tmp_path / "audit.log") if line["action"] == f"POST {path}"]
    assert [line["outcome"] for line in lines][-3:] in (
        ["refused: 403", "refused: 403", "refused: 415"],
        ["refused: 415", "refused: 403", "refused: 415"],
    ), lines


def test_a_dns_rebinding_host_is_refused(open_client: TestClient, tmp_path: Path) -> None:
    response = open_client.post(
        "/risk/kill-switch", headers={"Host": "rebind.attacker.example", **JSON_HEADERS}, json={"enabled": True}
    )
    assert response.status_code == 400
    assert "QT_ALLOWED_HOSTS" in response.json()["detail"]
    assert open_client.get("/risk").json()["kill_switch"]["enabled"] is False
    [line] = [line for line in audit_lines(tmp_path / "audit.log") if line["action"] == "POST /risk/kill-switch"]
    assert line["outcome"] == "refused: 400"


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "localhost", "testserver"])
def test_the_default_hosts_are_served(client: TestClient, host: str) -> None:
    assert client.get("/health", headers={"Host": host}).status_code == 200


def test_same_origin_json_posts_still_work(client: TestClient) -> None:
    response = client.post("/scheduler/pause", headers={**HEADERS, "Origin": "http://testserver"})
    assert response.status_code == 200


def test_security_headers_and_no_server_header(client: TestClient) -> None:
    for path, admin in (("/health", False), ("/risk", True), ("/settings", True), ("/metrics", False)):
        response = client.get(path, headers=ADMIN_HEADERS)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "server" not in response.headers
        assert "content-security-policy" in response.headers
        if admin:
            assert response.headers["cache-control"] == "no-store"


def test_the_web_page_keeps_its_own_policy(client: TestClient) -> None:
    response = client.get("/ui/")
    if response.status_code == 200:
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["content-security-policy"].count("default-src") == 1


def test_docs_are_served_from_the_installed_package_under_a_csp(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "cdn" not in response.text.lower()
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in csp
    for asset in re.findall(r'(?:src|href)="(/docs/static/[^"]+)"', response.text):
        assert client.get(asset).status_code == 200, asset


def test_options_on_settings_names_every_method(client: TestClient) -> None:
    response = client.options("/settings", headers=ADMIN_HEADERS)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} >= {"GET", "PUT"}


def test_unknown_methods_collapse_into_one_metric_label(client: TestClient) -> None:
    for n in range(30):
        client.request(f"X{n}", f"/p{n}")
    text = client.get("/metrics").text
    series = [line for line in text.splitlines() if line.startswith("http_requests_total{")]
    assert not any('method="X' in line for line in series)
    assert any('method="other"' in line for line in series)


@pytest.mark.parametrize("origins", ["*", "*,null", "https://ok.example,null"])
def test_wildcard_cors_is_refused_outside_development(origins: str) -> None:
    token = "Zq7-xWm2_Lp9vRt4Kc8Nh1Bd6Fg3Js5Ya0"
    with pytest.raises(ConfigError, match="QT_CORS_ORIGINS"):
        load_settings(
            {"app": {"QT_ENV": "production", "QT_ADMIN_TOKEN": token, "QT_CORS_ORIGINS": origins}}, env_file=False
        )


def test_public_answers_reveal_no_internals(client: TestClient, tmp_path: Path) -> None:
    ctx = client.app.state.ctx
    ctx.health_checks["audit"] = lambda: [f"cannot write the audit log {tmp_path}/audit.log: Permission denied"]
    ctx.health.error = (
        '(psycopg.OperationalError) connection to server at "db.internal" (10.1.2.3), port 5432 failed\n'
        "[SQL: SELECT * FROM runtime_settings WHERE name = %(name)s] [parameters: {'name': 'x'}]"
    )
    ctx.health.reachable = False
    body = json.dumps(client.get("/health").json())
    for secret in (str(tmp_path), "db.internal", "10.1.2.3", "SELECT", "parameters"):
        assert secret not in body, secret
    assert "database: OperationalError" in body
    ctx.runner.details = lambda _job: {"cash": 1234.5, "equity": 9999.0, "gross_exposure": 10.0}
    scheduler = client.get("/health/scheduler").json()
    assert scheduler["execution"] == {"gross_exposure": 10.0}
    info = client.get("/ai/model-info").json()
    assert not str(info.get("model_path") or "").startswith("/")
