"""/backtests: runs started by an admin in a worker process, recorded, listed and reported."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from backend.backtest.store import BacktestStore
from backend.tests.backtest.factories import BODY, wait_done
from backend.tests.conftest import ADMIN_HEADERS


def test_an_admin_starts_a_backtest_that_a_worker_runs_and_records(backtest_client: Any, tmp_path: Path) -> None:
    client = backtest_client
    started = client.post("/backtests", json=BODY, headers=ADMIN_HEADERS)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    assert started.json()["status"] == "queued"
    done = wait_done(client, run_id)
    assert done["status"] == "completed", done["error"]
    assert done["data_range"]["bars"] == 13
    assert done["data_range"]["interval"] == "1h"
    assert set(done["metrics"]) == {"strategy", "equal_weight"}
    assert done["params"]["source"] == "replay"
    assert done["requested_by"]
    listed = client.get("/backtests").json()
    assert listed["total"] == 1
    assert listed["items"][0]["net_returns"].keys() == {"strategy", "equal_weight"}
    report = client.get(done["report_url"])
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["content-security-policy"]
    assert "Monthly returns" in report.text
    audit = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert any(a["action"] == "POST /backtests" and a["outcome"] == "ok" for a in audit)
    check_equity(client, run_id, store_dir=Path(client.app.state.ctx.services["backtests"].folder(run_id)))


def check_equity(client: Any, run_id: int, store_dir: Path) -> None:
    """GET /backtests/{id}/equity: equity.csv's curve per book, every point, or thinned to the cap."""
    with (store_dir / "equity.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    strategy = [(r["time"], r["equity"]) for r in rows if r["book"] == "strategy"]
    assert len(strategy) == 14  # the starting mark and one per bar
    full = client.get(f"/backtests/{run_id}/equity")
    assert full.status_code == 200, full.text
    body = full.json()
    assert [c["book"] for c in body["curves"]] == ["strategy", "equal_weight"]
    curve = body["curves"][0]
    assert (curve["points_in_run"], curve["step"]) == (14, 1)
    got = [(datetime.fromisoformat(p["time"]), Decimal(p["equity"])) for p in curve["points"]]
    assert got == [(datetime.fromisoformat(t), Decimal(e)) for t, e in strategy]
    assert all(isinstance(p["equity"], str) for p in curve["points"])  # amounts are decimal strings
    thinned = client.get(f"/backtests/{run_id}/equity", params={"max_points": 5}).json()
    for c in thinned["curves"]:
        assert (c["points_in_run"], c["step"], len(c["points"])) == (14, 4, 5)
    # the all-cash start is kept (it was dropped), then the last of each run of 4, the final always
    assert [p["equity"] for p in thinned["curves"][0]["points"]] == [
        curve["points"][i]["equity"] for i in (0, 4, 8, 12, 13)
    ]
    for bad in (1, 5001, "many"):
        assert client.get(f"/backtests/{run_id}/equity", params={"max_points": bad}).status_code == 422


def test_starting_needs_the_admin_token_and_a_sane_request(backtest_client: Any) -> None:
    client = backtest_client
    assert client.post("/backtests", json=BODY).status_code == 401
    for bad in (
        {**BODY, "end": "2025-01-01T00:00:00Z"},  # before start
        {**BODY, "interval": "7m"},
        {**BODY, "slippage": "lots"},
        {**BODY, "symbols": ["../etc"]},
        {**BODY, "directory": "/etc"},  # no paths from the API
        {"source": "simulated"},  # the simulated market needs an end
    ):
        response = client.post("/backtests", json=bad, headers=ADMIN_HEADERS)
        assert response.status_code == 422, bad
    assert client.get("/backtests").json()["total"] == 0


def test_a_symbol_the_data_lacks_is_refused_before_a_run_is_queued(backtest_client: Any) -> None:
    # it was accepted (202) and the run then failed in the worker
    client = backtest_client
    for body, reason in (
        ({**BODY, "symbols": ["AAAUSDT", "ZZZUSDT"]}, "unknown symbol ZZZUSDT (the replay data has AAAUSDT, BBBUSDT"),
        ({"source": "simulated", "end": "2024-03-02T00:00:00Z", "symbols": ["NOPEUSDT"]}, "unknown symbol NOPEUSDT"),
    ):
        response = client.post("/backtests", json=body, headers=ADMIN_HEADERS)
        assert response.status_code == 422, response.text
        assert reason in response.json()["detail"]
    assert client.get("/backtests").json()["total"] == 0
    audit = client.get("/audit", headers=ADMIN_HEADERS).json()
    assert any(e["outcome"].startswith("refused: unknown symbol ZZZUSDT") for e in audit["entries"])


def test_a_request_sets_settings_for_its_run_alone(backtest_client: Any) -> None:
    # a reviewer could run BTC-quoted pairs from the API only by changing the live service's settings
    client = backtest_client
    for settings, reason in (
        ({"QT_ADMIN_TOKEN": "x"}, "settings: QT_ADMIN_TOKEN: not a setting a backtest request may set"),
        ({"QT_REPLAY_DIR": "/etc"}, "settings: QT_REPLAY_DIR: not a setting"),  # no paths from the API
        ({"QT_PAPER_STARTING_CASH": "5"}, "settings: QT_PAPER_STARTING_CASH (use cash): set by the request's own"),
        ({"QT_LIQUIDITY_WHITELIST": "NOPEUSDT"}, "QT_LIQUIDITY_WHITELIST (use symbols)"),
        ({"QT_MARKET_CACHE_TTL_SECONDS": 86400}, "QT_MARKET_CACHE_TTL_SECONDS (use market_bars)"),
        ({"x" * 5000: "1"}, "setting name(s) not of the form QT_NAME"),
        ({"QT_MAX_NOTIONAL_PER_TRADE": "-1"}, "settings: QT_MAX_NOTIONAL_PER_TRADE"),
    ):
        response = client.post("/backtests", json={**BODY, "settings": settings}, headers=ADMIN_HEADERS)
        assert response.status_code == 422, response.text
        assert reason in str(response.json()["detail"])
    body = {**BODY, "settings": {"QT_MAX_NOTIONAL_PER_TRADE": "60", "QT_EXECUTION_QUOTE_ASSET": "USDT"}}
    started = client.post("/backtests", json=body, headers=ADMIN_HEADERS)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    done = wait_done(client, run_id)
    assert done["status"] == "completed", done["error"]
    assert done["params"]["settings"] == body["settings"]
    folder = Path(client.app.state.ctx.services["backtests"].folder(run_id))
    applied = json.loads((folder / "metrics.json").read_text())["parameters"]["applied"]
    assert applied["QT_MAX_NOTIONAL_PER_TRADE"] == "60"
    # through the worker's pipe every setting looks set: what is shown is what differs from the
    # defaults (the report is public), never a place on the host
    assert "QT_LIQUIDITY_MAX_SPREAD_BPS" not in applied
    assert not [name for name in applied if name.endswith(("_DIR", "_DB", "_URL", "_PATH"))]
    assert applied["QT_LIQUIDITY_MIN_QUOTE_VOLUME"] == "0"  # the service's environment
    with (folder / "orders.csv").open(newline="") as handle:
        buys = [r for r in csv.DictReader(handle) if r["side"] == "BUY" and r["status"] != "SKIPPED"]
    assert buys
    assert all(Decimal(r["quote_quantity"] or "0") <= 60 for r in buys)
    service = {i["name"]: i for i in client.get("/settings", headers=ADMIN_HEADERS).json()["settings"]}
    assert service["QT_MAX_NOTIONAL_PER_TRADE"]["source"] == "env"  # the service's own: unchanged
    assert service["QT_MAX_NOTIONAL_PER_TRADE"]["value"] == "100000"


def test_a_replay_folder_with_a_file_of_no_known_quote_is_refused_before_a_run_is_queued(
    backtest_client: Any,
) -> None:
    client = backtest_client
    folder = client.app.state.ctx.settings.current.market.replay_dir
    (folder / "PRICES.csv").write_text((folder / "AAAUSDT.csv").read_text())
    response = client.post("/backtests", json=BODY, headers=ADMIN_HEADERS)
    assert response.status_code == 422, response.text
    assert "PRICES in QT_REPLAY_DIR end with no known quote asset" in response.json()["detail"]


def test_one_backtest_at_a_time_and_unknown_ids(backtest_client: Any) -> None:
    client = backtest_client
    store: BacktestStore = client.app.state.ctx.services["backtests"].store
    running = store.create({"source": "replay"}, None)
    store.start(running.id, 999_999, "/nonexistent")
    response = client.post("/backtests", json=BODY, headers=ADMIN_HEADERS)
    assert response.status_code == 409
    assert f"backtest {running.id} is running" in response.json()["detail"]
    assert client.get("/backtests/12345").status_code == 404
    assert client.get(f"/backtests/{running.id}/report").status_code == 404
    assert client.get("/backtests/12345/equity").status_code == 404
    for path in ("", "/equity", "/report"):  # beyond the id column (was a database error on PostgreSQL)
        assert client.get(f"/backtests/{2**31}{path}").status_code == 422
    running_equity = client.get(f"/backtests/{running.id}/equity")
    assert running_equity.status_code == 404
    assert "no equity curves (running)" in running_equity.json()["detail"]


def test_a_run_left_running_by_a_dead_worker_is_failed_at_start_up(backtest_client: Any) -> None:
    store: BacktestStore = backtest_client.app.state.ctx.services["backtests"].store
    view = store.create({"source": "replay"}, None)
    store.start(view.id, 2**22 + 12345, "/nonexistent")  # no such process
    assert store.fail_interrupted() == 1
    after = store.get(view.id)
    assert after is not None
    assert after.status == "failed"
    assert "interrupted" in (after.error or "")


def test_a_thinned_curve_keeps_its_all_cash_start_and_its_final_point() -> None:
    # ?max_points=3 showed neither the all-cash start nor, with a step of 1, more than it was asked
    from backend.backtest.curves import thin

    points = list(range(14))
    assert thin(points, 3) == (7, [0, 7, 13])
    assert thin(points, 2) == (13, [0, 13])
    assert thin(points, 14) == (1, points)
    assert thin(points, 5000) == (1, points)
    assert thin([], 5) == (1, [])
    for cap in range(2, 16):
        _step, kept = thin(points, cap)
        assert (kept[0], kept[-1]) == (0, 13)
        assert len(kept) <= cap
