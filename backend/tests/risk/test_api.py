"""The /risk endpoints through the app: admin only, audited before/after, persisted, visible in /health."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from backend.exchanges.base import OrderSide
from backend.exchanges.errors import TemporaryExchangeError
from backend.risk.models import RuleName, TradeRecord
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from backend.tests.risk.conftest import context, order


def audit_lines(settings: Any) -> list[dict[str, Any]]:
    path: Path = settings.app.admin_audit_path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_get_risk_shows_kill_switch_limits_bounds_and_metrics(client_for: Any, make_settings: SettingsFactory) -> None:
    settings = make_settings(risk={"QT_MAX_GROSS_EXPOSURE": "5000", "QT_MAX_DAILY_LOSS": "250"})
    client: TestClient = client_for(settings)
    assert client.get("/risk").status_code == 401
    body = client.get("/risk", headers=ADMIN_HEADERS).json()
    assert body["kill_switch"] == {
        "enabled": False,
        "default": False,
        "override": None,
        "reason": None,
        "actor": None,
        "updated_at": None,
    }
    assert body["limits"]["max_notional_per_trade"] == "1000"
    assert body["limits"]["max_gross_exposure"] == "5000"
    assert body["limits"]["max_position_per_symbol"] is None
    assert body["price_bounds"]["symbols"]["BTCUSDT"] == {"min_price": "1000", "max_price": "10000000"}
    assert body["metrics"]["trades_today"] == 0
    assert body["metrics"]["loss_budget_left"] == "250"
    assert body["state_store_error"] is None


def test_kill_switch_round_trip_is_audited_and_shown_in_health(client: TestClient, settings: Any) -> None:
    response = client.post("/risk/kill-switch", json={"enabled": True, "reason": "bad fills"}, headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    state = response.json()["kill_switch"]
    assert (state["enabled"], state["override"], state["reason"]) == (True, True, "bad fills")
    assert state["actor"]  # the token fingerprint, never the token
    assert "test-admin-token" not in response.text
    assert client.get("/health").json()["kill_switch"] is True
    assert "risk_kill_switch_enabled 1.0" in client.get("/metrics").text
    guard = client.app.state.ctx.services["risk_guard"]
    assert guard.check(order(side="SELL"), context()).rule is RuleName.KILL_SWITCH

    reset = client.post("/risk/kill-switch", json={"enabled": None}, headers=ADMIN_HEADERS).json()["kill_switch"]
    assert (reset["enabled"], reset["override"], reset["reason"]) == (False, None, "reset to the default")
    assert client.get("/health").json()["kill_switch"] is False

    lines = [line for line in audit_lines(settings) if line["action"] == "POST /risk/kill-switch"]
    assert [line["outcome"] for line in lines] == ["ok", "ok"]
    assert lines[0]["before"]["enabled"] is False
    assert lines[0]["after"]["enabled"] is True
    assert lines[0]["after"]["reason"] == "bad fills"
    assert lines[1]["before"]["enabled"] is True
    assert lines[1]["after"]["override"] is None
    assert lines[0]["token_fingerprint"] == state["actor"]


def test_kill_switch_body_is_validated(client: TestClient) -> None:
    for body in ({}, {"enabled": "maybe"}, {"enabled": True, "reason": "x" * 501}):
        assert client.post("/risk/kill-switch", json=body, headers=ADMIN_HEADERS).status_code == 422, body


def test_nothing_changes_when_the_audit_log_cannot_be_written(
    client_for: Any, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    client = client_for(make_settings(app={"QT_ADMIN_AUDIT_PATH": str(blocker / "audit.log")}))
    # turning the kill switch on is fail-safe (never refused for want of an audit line: issue 13)
    assert client.post("/risk/kill-switch", json={"enabled": True}, headers=ADMIN_HEADERS).status_code == 200
    response = client.post("/risk/kill-switch", json={"enabled": False}, headers=ADMIN_HEADERS)
    assert response.status_code == 503
    assert client.get("/risk", headers=ADMIN_HEADERS).json()["kill_switch"]["enabled"] is True
    assert client.post("/risk/reset", headers=ADMIN_HEADERS).status_code == 503
    assert client.get("/risk", headers=ADMIN_HEADERS).json()["kill_switch"]["enabled"] is True


def test_reset_clears_trades_and_override_with_an_audit_line(client: TestClient, settings: Any) -> None:
    guard = client.app.state.ctx.services["risk_guard"]
    now = guard.snapshot().now
    guard.record_fill_sync(TradeRecord("c1", "ETHUSDT", OrderSide.SELL, Decimal(1), Decimal(100), Decimal(-40), now))
    client.post("/risk/kill-switch", json={"enabled": True, "reason": "r"}, headers=ADMIN_HEADERS)
    before = client.get("/risk", headers=ADMIN_HEADERS).json()
    assert before["metrics"]["trades_today"] == 1
    assert before["metrics"]["realised_pnl_today"] == "-40"
    body = client.post("/risk/reset", headers=ADMIN_HEADERS).json()
    assert body["metrics"]["trades_today"] == 0
    assert body["kill_switch"]["override"] is None
    line = next(entry for entry in audit_lines(settings) if entry["action"] == "POST /risk/reset")
    assert line["before"]["trades_today"] == 1
    assert line["before"]["kill_switch"]["enabled"] is True
    assert line["after"]["trades_today"] == 0
    assert line["after"]["kill_switch"]["enabled"] is False


def test_a_failing_state_store_keeps_the_api_up_and_refuses_orders(
    client_for: Any, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    client = client_for(make_settings(risk={"QT_RISK_STATE_DB": str(blocker / "risk.db")}))
    health = client.get("/health").json()
    assert health["kill_switch"] is True
    assert health["status"] == "degraded"
    assert any(reason.startswith("risk: state store unavailable") for reason in health["reasons"])
    assert client.post("/risk/kill-switch", json={"enabled": False}, headers=ADMIN_HEADERS).status_code == 503
    assert client.get("/risk", headers=ADMIN_HEADERS).json()["state_store_error"]


def test_automatic_halt_in_the_app_is_audited_and_counted(client: TestClient, settings: Any) -> None:
    guard = client.app.state.ctx.services["risk_guard"]
    now = guard.snapshot().now
    assert guard.check(order(), context(now=now))
    for _ in range(settings.risk.halt_after_failures):
        guard.note_exchange_failure_sync(TemporaryExchangeError("exchange down"))
    assert client.get("/health").json()["kill_switch"] is True
    line = next(entry for entry in audit_lines(settings) if entry["action"] == "AUTO risk kill-switch")
    assert line["before"]["enabled"] is False
    assert line["after"]["enabled"] is True
    assert line["after"]["reason"] == "auto: exchange failures"
    assert guard.check(order(side="SELL"), context(now=now)).rule is RuleName.KILL_SWITCH
    metrics = client.get("/metrics").text
    assert 'risk_decisions_total{outcome="allowed",rule="none"} 1.0' in metrics
    assert 'risk_decisions_total{outcome="refused",rule="kill_switch"} 1.0' in metrics
    assert "risk_kill_switch_enabled 1.0" in metrics


def test_limits_changed_through_put_settings_apply_to_the_next_check(client: TestClient) -> None:
    guard = client.app.state.ctx.services["risk_guard"]
    now = guard.snapshot().now
    assert guard.check(order(quantity="5"), context(now=now))
    response = client.put("/settings", json={"QT_MAX_NOTIONAL_PER_TRADE": "250"}, headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    refused = guard.check(order(quantity="5"), context(now=now))
    assert refused.rule is RuleName.NOTIONAL_PER_TRADE
    assert "250" in refused.reason
    assert client.get("/risk", headers=ADMIN_HEADERS).json()["limits"]["max_notional_per_trade"] == "250"


def test_get_risk_has_a_line_for_each_protection_and_metrics_show_them(
    client_for: Any, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        risk={"QT_MAX_DRAWDOWN_PCT": "10", "QT_SYMBOL_COOLDOWN_MINUTES": "45", "QT_MAX_DAILY_TURNOVER": "5000"}
    )
    client: TestClient = client_for(settings)
    guard = client.app.state.ctx.services["risk_guard"]
    now = guard.snapshot().now
    guard.record_fill_sync(
        TradeRecord("exit-1", "ETHUSDT", OrderSide.SELL, Decimal(1), Decimal(300), Decimal(-20), now)
    )
    assert guard.check(order(quantity="2"), context(now=now)).rule is RuleName.SYMBOL_COOLDOWN
    protections = client.get("/risk", headers=ADMIN_HEADERS).json()["protections"]
    assert protections["equity_drawdown"] == {
        "max_drawdown_pct": "10",
        "window_days": 30,
        "drawdown_pct": None,
        "equity": None,
        "high_water": None,
        "high_water_at": None,
        "as_of": None,
        "breached": False,
    }
    assert protections["symbol_cooldown"]["minutes"] == 45
    assert list(protections["symbol_cooldown"]["symbols"]) == ["ETHUSDT"]
    assert protections["daily_turnover"] == {
        "max_daily_turnover": "5000",
        "traded_today": "300",
        "pending": "0",
        "left": "4700",
    }
    metrics = client.get("/metrics").text
    assert 'risk_decisions_total{outcome="refused",rule="symbol_cooldown"} 1.0' in metrics
    assert "risk_daily_turnover 300.0" in metrics
    assert "risk_equity_drawdown_percent" in metrics
