"""GET /liquidity and POST /liquidity/refresh: admin only, audited, the run and its analytics."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from ai_engine.signal import Action
from backend.tests.conftest import ADMIN_HEADERS
from backend.tests.liquidity.factories import FakeMarket, FakePredictor, signal
from config.settings import Settings

JOB = "liquidity-refresh"


def _start(client_for: Callable[[Settings], Any], settings: Settings, market: Any, predictor: Any = None) -> Any:
    client = client_for(settings)
    services = client.app.state.ctx.services
    services["market"] = market
    services["predictor"] = predictor
    return client


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/liquidity"), ("GET", "/liquidity/exclusions"), ("POST", "/liquidity/refresh")]
)
@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"X-Admin-Token": "wrong"}, 403)])
def test_liquidity_routes_need_the_admin_token(
    client_for: Callable[[Settings], Any],
    settings: Settings,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
) -> None:
    client = _start(client_for, settings, FakeMarket())
    assert client.request(method, path, headers=headers).status_code == status
    assert client.app.state.ctx.services["liquidity"].last_run() is None


def test_get_before_the_first_run_has_no_selection(client_for: Callable[[Settings], Any], settings: Settings) -> None:
    client = _start(client_for, settings, FakeMarket())
    response = client.get("/liquidity", headers=ADMIN_HEADERS)
    assert response.status_code == 200
    assert response.json() == {"selection": None, "last_run": None}


def test_refresh_runs_now_returns_the_run_and_is_audited(
    client_for: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    predictor = FakePredictor({"ETHUSDT": signal("ETHUSDT", Action.BUY, 0.8)}, version="v42")
    client = _start(client_for, settings, FakeMarket(), predictor)

    response = client.post("/liquidity/refresh", headers=ADMIN_HEADERS)
    assert response.status_code == 200
    body = response.json()
    assert body["job"]["status"] == "ok"
    assert body["job"]["manual"] is True
    run = body["run"]
    assert run["run_id"] == 1
    assert run["blend_mode"] == "blended"
    assert run["model_version"] == "v42"
    assert sum(Decimal(w) for w in run["weights"].values()) == 1
    assert next(p["symbol"] for p in run["selection"]) == "ETHUSDT"
    assert run["selection"][0]["model_action"] == "BUY"
    analytics = run["analytics"]
    assert analytics["selected_count"] == 6
    assert analytics["provider"]["model_version"] == "v42"
    assert {step["filter"] for step in analytics["filters"]} >= {"status", "stablecoin_base", "leveraged_token"}

    lines = [json.loads(line) for line in settings.app.admin_audit_path.read_text().splitlines()]
    assert [(e["action"], e["outcome"]) for e in lines] == [("POST /liquidity/refresh", "ran: ok")]
    assert lines[0]["before"] is None

    # the same analytics reach GET /liquidity, /scheduler/status and /health/scheduler
    current = client.get("/liquidity", headers=ADMIN_HEADERS).json()
    assert current["selection"] == run
    assert current["last_run"] == run
    for path, headers in (("/scheduler/status", ADMIN_HEADERS), ("/health/scheduler", {})):
        job = client.get(path, headers=headers).json()["jobs"][JOB]
        assert job["details"]["analytics"] == analytics
        assert job["details"]["run_id"] == 1
        assert job["last_run"]["status"] == "ok"

    client.post("/liquidity/refresh", headers=ADMIN_HEADERS)
    lines = [json.loads(line) for line in settings.app.admin_audit_path.read_text().splitlines()]
    assert lines[-1]["before"] == {"run_id": 1, "symbols": list(run["weights"])}


def test_degraded_run_reports_its_problems(client_for: Callable[[Settings], Any], settings: Settings) -> None:
    client = _start(client_for, settings, FakeMarket(), FakePredictor(error=True))
    body = client.post("/liquidity/refresh", headers=ADMIN_HEADERS).json()
    assert body["job"]["status"] == "degraded"
    assert body["job"]["errors"] == body["run"]["problems"]
    assert body["run"]["blend_mode"] == "liquidity_only"
    health = client.get("/health").json()
    assert (
        "liquidity: model: prediction failed (RuntimeError: model exploded): liquidity-only blend" in health["reasons"]
    )


def test_failed_refresh_returns_the_failed_job_and_no_run(
    client_for: Callable[[Settings], Any], settings: Settings
) -> None:
    client = _start(client_for, settings, FakeMarket(error=ConnectionError("exchange down")))
    body = client.post("/liquidity/refresh", headers=ADMIN_HEADERS).json()
    assert body["job"]["status"] == "failed"
    assert body["job"]["error"] == "ConnectionError: exchange down"
    assert body["run"] is None
    assert client.get("/health/scheduler").json()["errors"][JOB] == "ConnectionError"  # public: the kind only
    status = client.get("/scheduler/status", headers=ADMIN_HEADERS).json()
    assert status["errors"][JOB] == "ConnectionError: exchange down"


def test_refresh_without_a_market_service_fails_cleanly(
    client_for: Callable[[Settings], Any], settings: Settings
) -> None:
    client = _start(client_for, settings, None)
    body = client.post("/liquidity/refresh", headers=ADMIN_HEADERS).json()
    assert body["job"]["error"] == "LiquidityUnavailableError: market service unavailable"
    assert body["run"] is None


def test_exclusions_explain_every_removed_symbol(client_for: Callable[[Settings], Any], settings: Settings) -> None:
    client = _start(client_for, settings, FakeMarket())
    assert client.get("/liquidity/exclusions", headers=ADMIN_HEADERS).json() == {
        "run_id": None,
        "created_at": None,
        "exclusions": {},
    }
    client.post("/liquidity/refresh", headers=ADMIN_HEADERS)
    body = client.get("/liquidity/exclusions", headers=ADMIN_HEADERS).json()
    assert body["run_id"] == 1
    assert {s: e["filter"] for s, e in body["exclusions"].items()} == {
        "WAVESUSDT": "status",
        "BTCEUR": "quote_asset",
        "USDCUSDT": "stablecoin_base",
        "BTCUPUSDT": "leveraged_token",
        "DUSKUSDT": "max_spread",
        "NOVAUSDT": "listing_age",
    }
    only = client.get("/liquidity/exclusions?symbol=usdcusdt&symbol=BTCUSDT", headers=ADMIN_HEADERS).json()
    assert only["exclusions"] == {"USDCUSDT": {"filter": "stablecoin_base", "reason": "base USDC is a stablecoin"}}
