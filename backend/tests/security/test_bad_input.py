"""Bad input gets a 422 whose body always encodes: NaN, Infinity, 1e309, lone surrogates, lax booleans,
out-of-range dates and unvalidated list items (issue 13, items 1, 7, 8 and "Also")."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ai_engine.registry import ModelRegistry
from backend.tests.conftest import ADMIN_HEADERS
from backend.tests.security.helpers import JSON_HEADERS, assert_encodes, audit_lines, raw
from config.settings import Settings
from database.session import make_engine, make_session_factory

HEADERS = {**ADMIN_HEADERS, **JSON_HEADERS}


def test_train_with_a_lone_surrogate_symbol_is_refused_and_runs_stay_readable(client: TestClient) -> None:
    response = client.post(
        "/ai/train", headers=HEADERS, content=raw('{"symbols":["\\ud800"],"days":1,"activate":"never"}')
    )
    assert response.status_code == 422
    assert "symbols" in str(assert_encodes(response.content))
    runs = client.get("/ai/runs", headers=ADMIN_HEADERS)
    assert runs.status_code == 200
    assert runs.json()["total"] == 0


@pytest.mark.parametrize("symbol", ["btcusdt", "BTC/USDT", "", "A" * 21, "B\u00e9TC"])
def test_train_refuses_a_symbol_that_is_not_an_exchange_symbol(client: TestClient, symbol: str) -> None:
    response = client.post("/ai/train", headers=ADMIN_HEADERS, json={"symbols": [symbol], "activate": "never"})
    assert response.status_code == 422


def test_recording_a_failure_never_fails(settings: Settings) -> None:
    engine = make_engine(settings.database.effective_url)
    try:
        registry = ModelRegistry(settings.model.artifacts_dir, make_session_factory(engine))
        run = registry.start_run(dataset={"source": "market"}, params={})
        registry.fail_run(run.id, "KeyError: '\ud800' and a NUL \x00 byte")
        recorded = registry.get_run(run.version)
        assert recorded is not None
        assert recorded.status == "failed"
        assert recorded.error is not None
        assert "\\ud800" in recorded.error
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "body",
    [
        '{"enabled":NaN}',
        '{"enabled":1e309}',
        '{"enabled":Infinity}',
        '{"enabled":-Infinity}',
        '{"enabled":false,"reason":"\\ud800"}',
        '{"enabled":"yes"}',
        '{"enabled":1}',
        '{"enabled":"off"}',
        '{"enabled":true,"unknown":1}',
    ],
)
def test_kill_switch_bad_bodies_get_an_encodable_422_and_change_nothing(
    client: TestClient, tmp_path: Path, body: str
) -> None:
    before = client.get("/risk", headers=ADMIN_HEADERS).json()["kill_switch"]
    response = client.post("/risk/kill-switch", headers=HEADERS, content=raw(body))
    assert response.status_code == 422, response.text
    assert_encodes(response.content)
    assert client.get("/risk", headers=ADMIN_HEADERS).json()["kill_switch"] == before
    assert all(line["outcome"] != "ok" for line in audit_lines(tmp_path / "audit.log"))


@pytest.mark.parametrize(
    "body",
    [
        '{"x":NaN}',
        '{"days":Infinity}',
        '{"days":1e309}',
        '{"days":-1}',
        '{"days":1e20}',
        '{"seed":-1}',
        '{"seed":99999999999999999999}',
        '{"horizon":NaN}',
        '{"activate":"\\udfff"}',
    ],
)
def test_train_bad_bodies_get_an_encodable_422(client: TestClient, body: str) -> None:
    response = client.post("/ai/train", headers=HEADERS, content=raw(body))
    assert response.status_code == 422, response.text
    assert_encodes(response.content)
    assert client.get("/ai/runs", headers=ADMIN_HEADERS).json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        '{"QT_MAX_NOTIONAL_PER_TRADE":"\\ud800"}',
        '{"\\ud800":1}',
        '{"QT_MAX_NOTIONAL_PER_TRADE":NaN}',
        '{"QUANTUM_TRADER_SYMBOLS":"\\ud800"}',
    ],
)
def test_put_settings_bad_values_get_an_encodable_422(client: TestClient, body: str) -> None:
    before = client.get("/settings", headers=ADMIN_HEADERS).json()
    response = client.put("/settings", headers=HEADERS, content=raw(body))
    assert response.status_code == 422, response.text
    assert_encodes(response.content)
    assert client.get("/settings", headers=ADMIN_HEADERS).json() == before


@pytest.mark.parametrize(
    "query",
    [
        "since=9999-12-31T23:59:59-23:59",
        "until=0001-01-01T00:00:00%2B01:00",
        "since=0001-01-01T00:00:00%2B23:59",
        "until=9999-12-31T23:59:59-00:01",
    ],
)
def test_trades_with_out_of_range_dates_get_422(client: TestClient, query: str) -> None:
    response = client.get(f"/trades?{query}", headers=ADMIN_HEADERS)
    assert response.status_code == 422, response.text
    assert "range" in response.text


def test_trades_with_extreme_but_representable_dates_answer(client: TestClient) -> None:
    response = client.get(
        "/trades?since=0001-01-01T00:00:00%2B00:00&until=9999-12-31T23:59:59%2B00:00", headers=ADMIN_HEADERS
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("version", ["%00", "a%00b", "%0A", "x" * 101])
def test_activating_a_version_with_a_nul_or_control_character_is_a_422(
    client: TestClient, tmp_path: Path, version: str
) -> None:
    """PostgreSQL text cannot hold NUL: this was a 500 on PostgreSQL (found by the hostile fuzz)."""
    response = client.post(f"/ai/models/{version}/activate", headers=ADMIN_HEADERS)
    assert response.status_code == 422, response.text
    assert_encodes(response.content)
    assert client.get("/ai/model-info").json()["status"] == "none"
    line = audit_lines(tmp_path / "audit.log")[-1]
    assert (line["action"].split("/")[1], line["outcome"]) == ("ai", "refused: 422")
