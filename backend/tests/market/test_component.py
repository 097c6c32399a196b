"""The market component in a running app: the refresh job, /health/scheduler, /metrics, each source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.market.service import MarketService
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from backend.tests.fakes.binance_server import FakeBinance
from backend.tests.market.test_replay import write_csv

RUN = "/scheduler/jobs/market-cache-refresh/run"


def _metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_default_app_refreshes_both_symbols_and_counts_cache_lookups(
    client_for: Callable[..., Any], make_settings: SettingsFactory
) -> None:
    client = client_for(make_settings())
    assert isinstance(client.app.state.ctx.services["market"], MarketService)
    assert client.post(RUN, headers=ADMIN_HEADERS).json()["run"]["status"] == "ok"
    health = client.get("/health/scheduler").json()
    job = health["jobs"]["market-cache-refresh"]
    assert health["status"] == "ok"
    assert job["last_run"]["status"] == "ok"
    assert job["trigger"] == "interval[180s]"
    details = job["details"]
    assert details["source"] == "simulated"
    assert details["symbols"][:2] == ["BTCUSDT", "ETHUSDT"]
    assert {"BTCUSDT", "ETHUSDT"} <= set(details["successful_symbols"])
    assert details["errors"] == {}
    assert details["breaker"]["state"] == "closed"
    assert details["sentiment"]["source"] == "simulated"
    first = client.get("/metrics").text
    client.post(RUN, headers=ADMIN_HEADERS)
    second = client.get("/metrics").text
    hits = 'market_cache_requests_total{cache="klines",result="hit"}'
    assert _metric(second, hits) > _metric(first, hits)
    assert _metric(second, 'market_cache_requests_total{cache="tickers",result="miss"}') >= 1
    assert 'market_data_age_seconds{kind="tickers"}' in second


def test_configured_symbols_and_the_universe_are_refreshed(
    client_for: Callable[..., Any], make_settings: SettingsFactory
) -> None:
    client = client_for(make_settings(scheduler={"QUANTUM_TRADER_SYMBOLS": "SOLUSDT,NOPEUSDT"}))

    class Universe:
        def current_symbols(self) -> list[str]:
            return ["XRPUSDT", "SOLUSDT"]

    client.app.state.ctx.services["liquidity"] = Universe()
    run = client.post(RUN, headers=ADMIN_HEADERS).json()["run"]
    assert run["status"] == "degraded"
    assert run["errors"] == {"NOPEUSDT": "unknown symbol NOPEUSDT"}
    details = client.get("/health/scheduler").json()["jobs"]["market-cache-refresh"]["details"]
    assert details["symbols"] == ["SOLUSDT", "NOPEUSDT", "XRPUSDT"]
    assert details["successful_symbols"] == ["SOLUSDT", "XRPUSDT"]
    assert client.get("/health/scheduler").json()["status"] == "degraded"


def test_replay_source_runs_the_same_way(
    client_for: Callable[..., Any], make_settings: SettingsFactory, tmp_path: Path
) -> None:
    replay = tmp_path / "replay"
    replay.mkdir()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        write_csv(replay, symbol, 72, base=100.0)
    settings = make_settings(market={"QT_MARKET_DATA_SOURCE": "replay", "QT_REPLAY_DIR": str(replay)})
    client = client_for(settings)
    service: MarketService = client.app.state.ctx.services["market"]
    assert client.post(RUN, headers=ADMIN_HEADERS).json()["run"]["status"] == "ok"
    details = client.get("/health/scheduler").json()["jobs"]["market-cache-refresh"]["details"]
    assert details["source"] == "replay"
    assert details["successful_symbols"] == ["BTCUSDT", "ETHUSDT"]
    cursor = service.source.cursor  # type: ignore[attr-defined]
    client.post(RUN, headers=ADMIN_HEADERS)
    assert service.source.cursor > cursor  # type: ignore[attr-defined]


def test_binance_source_failures_degrade_the_job_and_open_the_breaker(
    client_for: Callable[..., Any], make_settings: SettingsFactory, binance_server: FakeBinance
) -> None:
    settings = make_settings(
        market={
            "QT_MARKET_DATA_SOURCE": "binance",
            "QT_BINANCE_API_URL": binance_server.url,
            "QT_MARKET_BREAKER_FAILURES": 2,
            "QT_MARKET_CACHE_TTL_SECONDS": 0,  # every run goes to the source
            "QT_SENTIMENT_SOURCE": "none",
        }
    )
    client = client_for(settings)
    ok = client.post(RUN, headers=ADMIN_HEADERS).json()["run"]
    assert ok["status"] == "ok", ok
    binance_server.faults.fail(status=503, times=10)
    run = client.post(RUN, headers=ADMIN_HEADERS).json()["run"]
    assert run["status"] == "degraded"
    details = client.get("/health/scheduler").json()["jobs"]["market-cache-refresh"]["details"]
    assert details["breaker"]["state"] == "open"
    assert "HTTP 503" in details["errors"]["tickers"]
    assert "circuit breaker open" in details["errors"]["BTCUSDT"]
    health = client.get("/health").json()
    assert health["status"] == "degraded"
    assert any(reason.startswith("market: binance circuit breaker open") for reason in health["reasons"])
