"""GET /execution/runs, /execution/runs/{id} and /portfolio/history through the real app."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory


def _app(client_for: Any, make_settings: SettingsFactory) -> Any:
    settings = make_settings(
        risk={"QT_MAX_NOTIONAL_PER_TRADE": "100000", "QT_MAX_PRICE_STALENESS_SECONDS": "86400"},
        execution={"QT_EXECUTION_MAX_ORDERS": "50"},
    )
    return client_for(settings)


def _cycle(client: Any) -> dict[str, Any]:
    run = client.post("/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS)
    assert run.status_code == 200, run.text
    details: dict[str, Any] = run.json()["details"]
    return details


def test_why_nothing_trades_is_answered_per_cycle(client_for: Any, make_settings: SettingsFactory) -> None:
    """The issue's case: after the first cycle bought, the next cycles skip every order; the
    reasons were only in execution_runs.details. Now each cycle lists them."""
    client = _app(client_for, make_settings)
    first = _cycle(client)
    second = _cycle(client)
    third = _cycle(client)
    assert first["orders_submitted"] > 0
    assert third["orders_submitted"] == 0
    assert third["orders_skipped"] > 0

    page = client.get("/execution/runs", headers=ADMIN_HEADERS, params={"kind": "cycle"}).json()
    assert page["total"] == 3
    assert [r["id"] for r in page["runs"]] == [third["last_run_id"], second["last_run_id"], first["last_run_id"]]
    latest = page["runs"][0]
    assert latest["orders_skipped"] == third["orders_skipped"]
    assert latest["skipped_by_kind"] == {"below_minimum": third["orders_skipped"]}
    assert latest["duration_seconds"] >= 0
    assert latest["finished_at"] >= latest["started_at"]
    assert Decimal(latest["equity"]) > 9900

    detail = client.get(f"/execution/runs/{third['last_run_id']}", headers=ADMIN_HEADERS).json()
    assert len(detail["skipped"]) == third["orders_skipped"]
    assert {s["reason"] for s in detail["skipped"]} == {"below QT_EXECUTION_MIN_NOTIONAL"}
    assert all(not s["dust"] and Decimal(s["notional"]) < 50 for s in detail["skipped"])
    assert detail["orders"] == []
    assert detail["dust"] == []

    bought = client.get(f"/execution/runs/{first['last_run_id']}", headers=ADMIN_HEADERS).json()
    assert len(bought["orders"]) == first["orders_submitted"] == bought["run"]["orders_saved"]
    for order in bought["orders"]:
        assert order["status"] == "FILLED", order
        assert order["fills"], order
        assert Decimal(order["fees_quote"]) == sum(Decimal(f["fee_quote"]) for f in order["fills"])
        assert Decimal(order["fees_quote"]) > 0

    symbol = bought["orders"][0]["symbol"]
    only = client.get("/execution/runs", headers=ADMIN_HEADERS, params={"symbol": symbol.lower()}).json()
    assert first["last_run_id"] in {r["id"] for r in only["runs"]}
    none = client.get("/execution/runs", headers=ADMIN_HEADERS, params={"symbol": "NOSUCHUSDT"}).json()
    assert none["total"] == 0
    reconcile = client.get("/execution/runs", headers=ADMIN_HEADERS, params={"kind": "reconcile"}).json()
    assert reconcile["total"] >= 1
    one = client.get(f"/execution/runs/{reconcile['runs'][0]['id']}", headers=ADMIN_HEADERS).json()
    assert "seeded" in one["details"]  # a reconciliation keeps its own details


def test_runs_refuse_what_they_cannot_answer(client_for: Any, make_settings: SettingsFactory) -> None:
    client = _app(client_for, make_settings)
    assert client.get("/execution/runs").status_code == 401
    assert client.get("/execution/runs/1", headers={"X-Admin-Token": "wrong"}).status_code == 403
    missing = client.get("/execution/runs/999999", headers=ADMIN_HEADERS)
    assert missing.status_code == 404
    assert "999999" in missing.json()["detail"]
    assert client.get("/execution/runs", headers=ADMIN_HEADERS, params={"status": "nope"}).status_code == 422
    assert client.get("/execution/runs", headers=ADMIN_HEADERS, params={"since": "2026-01-01T00:00"}).status_code == 422
    assert client.get("/portfolio/history").status_code == 401
    for params in ({"step": "1w"}, {"step": "0h"}, {"since": "2026-01-01T00:00:00"}):
        assert client.get("/portfolio/history", headers=ADMIN_HEADERS, params=params).status_code == 422, params
    backwards = {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    refused = client.get("/portfolio/history", headers=ADMIN_HEADERS, params=backwards)
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {"loc": ["query", "since"], "msg": "since must be before until", "type": "value_error"}
    ]


def test_history_has_a_mark_per_cycle_and_per_hourly_mark(client_for: Any, make_settings: SettingsFactory) -> None:
    client = _app(client_for, make_settings)
    empty = client.get("/portfolio/history", headers=ADMIN_HEADERS).json()
    before = empty["marks_in_range"]  # start-up reconciliation seeds, no cycle has run yet
    assert before == 0
    assert empty["points"] == []
    _cycle(client)
    _cycle(client)
    hourly = client.post("/scheduler/jobs/portfolio-mark/run", headers=ADMIN_HEADERS)
    assert hourly.status_code == 200, hourly.text
    assert hourly.json()["run"]["status"] == "ok", hourly.text

    body = client.get("/portfolio/history", headers=ADMIN_HEADERS).json()
    assert body["marks_in_range"] == len(body["points"]) == 3
    assert [p["source"] for p in body["points"]] == ["cycle", "cycle", "hourly"]
    portfolio = client.get("/portfolio", headers=ADMIN_HEADERS).json()
    last = body["points"][-1]
    assert Decimal(last["cash"]) == Decimal(portfolio["cash"])
    assert abs(Decimal(last["equity"]) - Decimal(portfolio["equity"])) < Decimal("0.01") * Decimal(portfolio["equity"])
    for p in body["points"]:
        assert Decimal(p["high_water"]) >= Decimal(p["equity"])
        assert Decimal(p["drawdown"]) <= 0
        assert Decimal(p["gross_exposure"]) > 0
    assert body["quote_asset"] == "USDT"
    assert Decimal(body["max_drawdown"]) <= 0
    thinned = client.get("/portfolio/history", headers=ADMIN_HEADERS, params={"step": "7d"}).json()
    assert thinned["step_seconds"] == 604_800
    assert 1 <= len(thinned["points"]) <= 2
    assert thinned["points"][-1] == last  # the last mark of its bucket
