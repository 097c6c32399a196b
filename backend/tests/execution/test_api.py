from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory


def _app(client_for: Any, make_settings: SettingsFactory) -> Any:
    settings = make_settings(
        risk={"QT_MAX_NOTIONAL_PER_TRADE": "100000", "QT_MAX_PRICE_STALENESS_SECONDS": "86400"},
        execution={"QT_EXECUTION_MAX_ORDERS": "50"},
    )
    return client_for(settings)


def test_manual_cycle_makes_the_portfolio_hold_the_selection(client_for: Any, make_settings: SettingsFactory) -> None:
    client = _app(client_for, make_settings)
    refreshed = client.post("/liquidity/refresh", headers=ADMIN_HEADERS)
    assert refreshed.status_code == 200, refreshed.text
    weights = {s: Decimal(str(w)) for s, w in refreshed.json()["run"]["weights"].items()}
    assert weights

    run = client.post("/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS)
    assert run.status_code == 200, run.text
    details = run.json()["details"]
    assert run.json()["run"]["status"] == "ok", run.json()
    assert details["orders_submitted"] > 0
    assert details["orders_failed"] == 0

    body = client.get("/portfolio", headers=ADMIN_HEADERS).json()
    held = {p["symbol"] for p in body["positions"] if Decimal(p["quantity"]) > 0}
    assert held == set(weights)
    equity = Decimal(body["equity"])
    assert equity > Decimal(9900)
    for p in body["positions"]:
        share = Decimal(p["market_value"]) / equity
        assert abs(share - weights[p["symbol"]]) < Decimal("0.02"), p
    assert body["balances"]

    scheduler = client.get("/health/scheduler").json()
    execution = scheduler["execution"]
    assert execution == scheduler["jobs"]["execution-rebalance"]["details"]
    assert execution["last_run_id"] == details["last_run_id"]
    assert Decimal(execution["gross_exposure"]) > 0
    # public: the gross exposure but no cash or equity (issue 13); the admin view has them all
    assert "cash" not in execution
    assert "equity" not in execution
    admin = client.get("/scheduler/status", headers=ADMIN_HEADERS).json()["execution"]
    # money in job details is a decimal string, as everywhere else
    assert all(isinstance(admin[k], str) for k in ("equity", "gross_exposure", "cash"))

    trades = client.get("/trades", headers=ADMIN_HEADERS, params={"limit": 2}).json()
    assert trades["orders_total"] == details["orders_submitted"]
    assert len(trades["orders"]) == 2
    # ids carry this installation's prefix, drawn at start-up and kept in the database
    prefix = {o["client_order_id"].split("-")[0] for o in trades["orders"]}
    assert len(prefix) == 1
    assert re.fullmatch(r"qt[a-z0-9]{6}", prefix.pop())
    assert trades["fills_total"] >= details["orders_submitted"]
    one = next(iter(held))
    only = client.get("/trades", headers=ADMIN_HEADERS, params={"symbol": one}).json()
    assert {o["symbol"] for o in only["orders"]} == {one}
    # any case names the same symbol
    assert client.get("/trades", headers=ADMIN_HEADERS, params={"symbol": one.lower()}).json() == only


def test_portfolio_and_trades_need_the_admin_token(client_for: Any, make_settings: SettingsFactory) -> None:
    client = _app(client_for, make_settings)
    assert client.get("/portfolio").status_code == 401
    assert client.get("/trades", headers={"X-Admin-Token": "wrong"}).status_code == 403


def test_trades_rejects_naive_times(client_for: Any, make_settings: SettingsFactory) -> None:
    client = _app(client_for, make_settings)
    response = client.get("/trades", headers=ADMIN_HEADERS, params={"since": "2026-01-01T00:00:00"})
    assert response.status_code == 422


def test_first_cycle_without_a_selection_lets_the_liquidity_job_select_first(
    client_for: Any, make_settings: SettingsFactory
) -> None:
    client = _app(client_for, make_settings)
    run = client.post("/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS)
    assert run.json()["run"]["status"] == "ok", run.json()
    assert run.json()["details"]["orders_submitted"] > 0
    selection = client.get("/liquidity", headers=ADMIN_HEADERS).json()["selection"]
    held = {p["symbol"] for p in client.get("/portfolio", headers=ADMIN_HEADERS).json()["positions"]}
    assert held == set(selection["weights"])


def test_kill_switch_cycle_through_the_api_submits_nothing(client_for: Any, make_settings: SettingsFactory) -> None:
    client = _app(client_for, make_settings)
    switched = client.post("/risk/kill-switch", headers=ADMIN_HEADERS, json={"enabled": True, "reason": "drill"})
    assert switched.status_code == 200, switched.text
    run = client.post("/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS).json()
    assert run["details"]["orders_submitted"] == 0
    assert "kill switch on" in run["details"]["reason"]
    assert client.get("/trades", headers=ADMIN_HEADERS).json()["orders_total"] == 0


def test_cycle_metrics_are_exported(client_for: Any, make_settings: SettingsFactory) -> None:
    client = _app(client_for, make_settings)
    details = client.post("/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS).json()["details"]
    text = client.get("/metrics", headers=ADMIN_HEADERS).text
    submitted = details["orders_submitted"]
    assert f'execution_orders_total{{side="BUY",status="filled"}} {float(submitted)}' in text
    assert f'exchange_requests_total{{endpoint="new_order",exchange="paper",outcome="ok"}} {float(submitted)}' in text
    equity = next(line for line in text.splitlines() if line.startswith("portfolio_equity "))
    assert abs(Decimal(equity.split()[1]) - Decimal(details["equity"])) < Decimal("0.01")
    assert any(line.startswith("execution_gross_exposure ") for line in text.splitlines())
