"""Run-time overrides against the environment: the ranking is visible, logged and reversible."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.runtime_settings import RuntimeSettingsService
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from config.runtime import SettingsHolder
from database.session import make_engine, make_session_factory

NAME = "QT_MAX_NOTIONAL_PER_TRADE"


def _items(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/settings", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    return {item["name"]: item for item in response.json()["settings"]}


def _audit(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]


def test_an_override_that_shadows_the_environment_is_shown_and_logged_at_start_up(
    client_for: Any,
    make_settings: SettingsFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = client_for(make_settings())
    assert first.put("/settings", headers=ADMIN_HEADERS, json={NAME: "750"}).status_code == 200

    monkeypatch.setenv(NAME, "900")
    with caplog.at_level(logging.WARNING, logger="backend"):
        restarted = client_for(make_settings())
    item = _items(restarted)[NAME]
    assert (item["value"], item["source"]) == ("750", "override")
    assert (item["environment_value"], item["environment_source"]) == ("900", "env")
    assert restarted.get("/risk", headers=ADMIN_HEADERS).json()["limits"]["max_notional_per_trade"] == "750"
    lines = [r.getMessage() for r in caplog.records if NAME in r.getMessage()]
    assert len(lines) == 1, lines
    assert "'750'" in lines[0]
    assert "'900'" in lines[0]
    assert f"DELETE /settings/{NAME}" in lines[0]


def test_an_override_of_a_default_is_not_reported_as_shadowing(
    client_for: Any, make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client_for(make_settings()).put("/settings", headers=ADMIN_HEADERS, json={"QT_EXECUTION_MAX_ORDERS": 3})
    with caplog.at_level(logging.WARNING, logger="backend"):
        restarted = client_for(make_settings())
    assert not [r for r in caplog.records if "QT_EXECUTION_MAX_ORDERS" in r.getMessage()]
    item = _items(restarted)["QT_EXECUTION_MAX_ORDERS"]
    assert (item["value"], item["environment_value"], item["environment_source"]) == (3, 10, "default")


def test_delete_returns_a_setting_to_its_environment_value_audited_and_persisted(
    client_for: Any, make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(NAME, "900")
    client = client_for(make_settings())
    assert client.put("/settings", headers=ADMIN_HEADERS, json={NAME: "750"}).status_code == 200

    response = client.delete(f"/settings/{NAME}", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    assert (response.json()["before"], response.json()["after"]) == ("750", "900")
    assert _items(client)[NAME]["source"] == "env"
    assert client.get("/risk", headers=ADMIN_HEADERS).json()["limits"]["max_notional_per_trade"] == "900"
    line = _audit(tmp_path)[-1]
    assert (line["action"], line["outcome"]) == (f"DELETE /settings/{NAME}", "ok")
    assert (line["before"], line["after"]) == ({NAME: "750"}, {NAME: "900"})
    # the row is gone: a restart keeps the environment's value
    assert _items(client_for(make_settings()))[NAME]["value"] == "900"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [(NAME, "no run-time override"), ("QT_NO_SUCH_SETTING", "unknown setting")],
)
def test_delete_without_an_override_is_404_and_audited(
    client: TestClient, tmp_path: Path, name: str, fragment: str
) -> None:
    response = client.delete(f"/settings/{name}", headers=ADMIN_HEADERS)
    assert response.status_code == 404
    assert fragment in response.json()["detail"]
    assert _audit(tmp_path)[-1]["outcome"] == "refused: no override"


def test_a_deletion_on_one_replica_is_seen_by_another(make_settings: SettingsFactory, database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        sessions = make_session_factory(engine)
        settings = make_settings()
        here = RuntimeSettingsService(SettingsHolder(settings), sessions)
        there = RuntimeSettingsService(SettingsHolder(settings), sessions)
        here.apply({NAME: "750"}, actor="test")
        changed, removed = there.changed_elsewhere()
        assert (changed, removed) == ({NAME: "750"}, [])
        there.holder.apply(changed)
        here.clear(NAME)
        changed, removed = there.changed_elsewhere()
        assert (changed, removed) == ({}, [NAME])
        there.holder.clear(removed)
        assert str(there.holder.current.risk.max_notional_per_trade) == "1000"
    finally:
        engine.dispose()
