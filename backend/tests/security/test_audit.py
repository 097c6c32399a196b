"""The audit log tells the truth and cannot be flooded (issue 13, items 3, 6 and 11): refused
unauthenticated attempts aggregated per client and minute with bounded paths, size rotation with
retention and no lost line, the kill switch fail-safe, lines written once the outcome is known,
and every refused admin attempt audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from backend.observability.audit import MAX_ACTION_CHARS, AuditLog, read_tail
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from backend.tests.security.helpers import JSON_HEADERS, audit_lines

HEADERS = {**ADMIN_HEADERS, **JSON_HEADERS}


def test_a_flood_of_unauthenticated_attempts_is_one_line_per_client_and_minute(
    client: TestClient, tmp_path: Path
) -> None:
    path = "/ai/models/" + "A" * 65_000 + "/activate"
    # one minute, whatever the machine's speed (the aggregation is per client and minute)
    minute = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    client.app.state.ctx.audit._clock = lambda: minute
    statuses = {client.post(path).status_code for _ in range(300)}
    assert statuses == {401}
    client.app.state.ctx.audit.close()
    log = tmp_path / "audit.log"
    lines = audit_lines(log)
    assert len(lines) == 2
    assert log.stat().st_size < 4_000
    assert lines[0]["count"] == 1
    assert lines[1]["count"] == 299
    assert sum(line["count"] for line in lines) == 300
    assert all(len(line["action"]) < MAX_ACTION_CHARS + 40 for line in lines)
    assert lines[0]["action"].startswith("POST /ai/models/AAAA")
    assert "more characters" in lines[0]["action"]


def test_aggregated_lines_are_written_when_their_minute_ends(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)]
    log = AuditLog(tmp_path / "a.log", clock=lambda: now[0])
    for client in ("10.0.0.1", "10.0.0.2"):
        for _ in range(5):
            log.refused("GET /risk", "missing_token", client=client)
    assert len(audit_lines(tmp_path / "a.log")) == 2  # the first of each client's minute
    now[0] += timedelta(minutes=1)
    log.flush()
    lines = audit_lines(tmp_path / "a.log")
    assert [(line["client"], line["count"]) for line in lines] == [
        ("10.0.0.1", 1),
        ("10.0.0.2", 1),
        ("10.0.0.1", 4),
        ("10.0.0.2", 4),
    ]
    assert lines[2]["minute"] == "2026-01-01T12:00"
    log.refused("GET /risk", "bad_token", client="10.0.0.1", token="x")
    assert audit_lines(tmp_path / "a.log")[-1]["count"] == 1  # a new minute starts with its own line


def test_the_log_rotates_by_size_keeps_its_backups_and_loses_no_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path, max_bytes=4096, backups=3)
    for n in range(60):
        log.write(f"POST /step/{n}", "ok", client="c", detail="x" * 100)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"]
    assert all((tmp_path / name).stat().st_size <= 4096 for name in files)
    assert all(oct((tmp_path / name).stat().st_mode)[-3:] == "600" for name in files)
    kept = [entry["action"] for entry in read_tail(path, limit=1000).entries]
    # newest first and consecutive: only whole old files were dropped, never a line in between
    numbers = [int(action.rsplit("/", 1)[1]) for action in kept]
    assert numbers == list(range(59, 59 - len(numbers), -1))
    assert len(numbers) > 20
    everything = AuditLog(tmp_path / "big.log", max_bytes=4096, backups=100)
    for n in range(60):
        everything.write(f"POST /step/{n}", "ok", client="c", detail="x" * 100)
    assert len(read_tail(tmp_path / "big.log", limit=1000).entries) == 60


def test_the_service_rotates_its_audit_log_and_get_audit_reads_across_files(
    client_for: Any, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    client = client_for(make_settings(app={"QT_ADMIN_AUDIT_MAX_BYTES": 4096, "QT_ADMIN_AUDIT_BACKUPS": 50}))
    for _ in range(20):
        assert client.post("/scheduler/pause", headers=ADMIN_HEADERS).status_code == 200
    assert (tmp_path / "audit.log.1").exists()
    page = client.get("/audit?limit=200", headers=ADMIN_HEADERS).json()
    assert [e["action"] for e in page["entries"]].count("POST /scheduler/pause") == 20


def _unwritable(make_settings: SettingsFactory, tmp_path: Path) -> tuple[Any, Path]:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    return make_settings(app={"QT_ADMIN_AUDIT_PATH": str(blocker / "audit.log")}), blocker


def test_turning_the_kill_switch_on_is_never_refused_for_want_of_an_audit_line(
    client_for: Any, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings, blocker = _unwritable(make_settings, tmp_path)
    client = client_for(settings)
    response = client.post("/risk/kill-switch", headers=HEADERS, json={"enabled": True, "reason": "incident"})
    assert response.status_code == 200
    assert client.get("/risk", headers=ADMIN_HEADERS).json()["kill_switch"]["enabled"] is True
    metrics = client.get("/metrics").text
    assert any(
        line.startswith("admin_audit_write_failures_total") and not line.endswith(" 0.0")
        for line in metrics.splitlines()
    ), metrics
    assert "audit: audit lines not yet written: 1" in client.get("/health").json()["reasons"]
    # every other mutation still needs its line
    assert client.post("/risk/kill-switch", headers=HEADERS, json={"enabled": False}).status_code == 503
    assert client.post("/scheduler/pause", headers=ADMIN_HEADERS).status_code == 503
    assert client.get("/risk", headers=ADMIN_HEADERS).json()["kill_switch"]["enabled"] is True
    # once the log is writable again the kept line is written first
    blocker.unlink()
    blocker.mkdir()
    assert client.post("/scheduler/pause", headers=ADMIN_HEADERS).status_code == 200
    lines = audit_lines(blocker / "audit.log")
    assert [(line["action"], line["outcome"]) for line in lines[:2]] == [
        ("POST /risk/kill-switch", "ok"),
        ("POST /scheduler/pause", "ok"),
    ]
    assert lines[0]["after"]["enabled"] is True


def test_put_settings_with_the_database_unreachable_is_audited_as_failed(client: TestClient, tmp_path: Path) -> None:
    client.app.state.ctx.services["runtime_settings"]._sessions.kw["bind"].dispose()
    engine = client.app.state.ctx.engine
    engine.pool.dispose()
    broken = (
        engine.url.set(database="/nonexistent-dir/db.sqlite")
        if engine.url.drivername.startswith("sqlite")
        else engine.url.set(port=1)
    )
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    client.app.state.ctx.services["runtime_settings"]._sessions = sessionmaker(create_engine(broken))
    before = client.get("/settings", headers=ADMIN_HEADERS).json()
    response = client.put("/settings", headers=HEADERS, json={"QT_EXECUTION_MAX_ORDERS": 3})
    assert response.status_code == 503
    assert "database unavailable" in response.json()["detail"]
    assert client.get("/settings", headers=ADMIN_HEADERS).json() == before
    line = audit_lines(tmp_path / "audit.log")[-1]
    assert line["action"] == "PUT /settings"
    assert line["outcome"] == "failed: OperationalError"
    assert line["after"] == line["before"] == {"QT_EXECUTION_MAX_ORDERS": 10}


def test_activation_that_fails_is_audited_as_failed_not_ok(client: TestClient, tmp_path: Path) -> None:
    response = client.post("/ai/models/no-such-version/activate", headers=ADMIN_HEADERS)
    assert response.status_code == 404
    line = audit_lines(tmp_path / "audit.log")[-1]
    assert line["outcome"].startswith("refused")
    assert all(entry["outcome"] != "ok" for entry in audit_lines(tmp_path / "audit.log"))


def test_every_refused_admin_attempt_is_one_audit_line(client: TestClient, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    # a malformed body without a token
    assert client.post("/risk/kill-switch", headers=JSON_HEADERS, content=b"{not json").status_code in (400, 422)
    # a 2 MB body with a wrong token
    big = client.put(
        "/settings", headers={"X-Admin-Token": "wrong", **JSON_HEADERS}, content=b"[" + b" " * 2_000_000 + b"]"
    )
    assert big.status_code == 413
    client.app.state.ctx.audit.close()
    unauthenticated = audit_lines(log)
    assert sum(line["count"] for line in unauthenticated) == 2
    assert unauthenticated[0]["action"] == "POST /risk/kill-switch"
    # a valid token with an invalid body, and an unknown job id
    assert client.post("/risk/kill-switch", headers=HEADERS, json={"enabled": "yes"}).status_code == 422
    assert client.post("/scheduler/jobs/no-such-job/run", headers=ADMIN_HEADERS).status_code == 404
    lines = audit_lines(log)[len(unauthenticated) :]
    assert [(line["action"], line["outcome"]) for line in lines] == [
        ("POST /risk/kill-switch", "refused: 422"),
        ("POST /scheduler/jobs/no-such-job/run", "refused: 404"),
    ]
    assert lines[0]["token_fingerprint"]
    assert "enabled" in json.dumps(lines[0]["detail"])
