"""The fault matrix: each fault injected into a running service, one parametrised table.

For every fault: the process stays up (later requests are answered), /health says degraded (or
unavailable, for the database) with the reason, nothing already recorded is lost, and the metric
that should count it does.

Exchange and market faults go through the real python-binance client to the local Binance server
(faults planned on it); the database, audit-log and model faults are made on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from backend.market.sources.simulated import SimulatedMarket
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from backend.tests.fakes.binance_account import MatchingEngine, running_account
from backend.tests.fakes.binance_server import FakeBinance

ORDER_PATH = "/api/v3/order"
MARKET_PATHS = ("/api/v3/exchangeInfo", "/api/v3/ticker/24hr", "/api/v3/ticker/bookTicker", "/api/v3/klines")


@pytest.fixture
def fake_binance() -> Iterator[tuple[FakeBinance, MatchingEngine]]:
    with running_account(SimulatedMarket(42)) as running:
        yield running


def _binance_settings(make_settings: SettingsFactory, url: str) -> Any:
    return make_settings(
        market={
            "QT_MARKET_DATA_SOURCE": "binance",
            "QT_BINANCE_API_URL": url,
            "QT_BINANCE_WEIGHT_BUDGET": "6000",
            "QT_BINANCE_TIMEOUT_SECONDS": "1",
        },
        execution={
            "QT_EXECUTION_EXCHANGE": "binance",
            "QT_EXECUTION_BINANCE_TESTNET": True,
            "QT_BINANCE_API_KEY": "fake-api-key",
            "QT_BINANCE_API_SECRET": "fake-api-secret",
        },
        risk={"QT_RISK_HALT_AFTER_FAILURES": "0"},  # this table is about degradation, not the auto halt
    )


def _metric_sum(client: TestClient, name: str, where: Callable[[dict[str, str]], bool] = lambda _l: True) -> float:
    registry = client.app.state.ctx.metrics.registry  # type: ignore[attr-defined]
    total = 0.0
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == name and where(sample.labels):
                total += sample.value
    return total


def _recorded(database_url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            fills = {row[0] for row in conn.execute(text("SELECT trade_id FROM fills"))}
            orders = {row[0] for row in conn.execute(text("SELECT client_order_id FROM orders"))}
    finally:
        engine.dispose()
    return fills, orders


def _run(client: TestClient, job: str) -> dict[str, Any]:
    response = client.post(f"/scheduler/jobs/{job}/run", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _not_ok(labels: dict[str, str]) -> bool:
    return labels.get("outcome") != "ok"


@dataclass(frozen=True)
class ExchangeFault:
    name: str
    inject: Callable[[FakeBinance, MatchingEngine], None]
    job: str
    metric: str
    reason: str  # a fragment of the /health reason


EXCHANGE_FAULTS = [
    ExchangeFault(
        "5xx",
        lambda f, _e: f.faults.fail(503, times=3, path=ORDER_PATH),
        "execution-rebalance",
        "exchange_requests_total",
        "execution-rebalance",
    ),
    ExchangeFault(
        "timeout",
        lambda f, _e: f.faults.stall(times=1, path=ORDER_PATH),
        "execution-rebalance",
        "exchange_requests_total",
        "execution-rebalance",
    ),
    ExchangeFault(
        "429 Retry-After",
        lambda f, _e: f.faults.rate_limit(429, retry_after=2, path=ORDER_PATH),
        "execution-rebalance",
        "exchange_requests_total",
        "execution-rebalance",
    ),
    ExchangeFault(
        "418 Retry-After",
        lambda f, _e: f.faults.rate_limit(418, retry_after=2, path=ORDER_PATH),
        "execution-rebalance",
        "exchange_requests_total",
        "execution-rebalance",
    ),
    ExchangeFault(
        "-1021 twice",
        lambda f, _e: f.faults.timestamp_error(times=2, path=ORDER_PATH),
        "execution-rebalance",
        "exchange_requests_total",
        "execution-rebalance",
    ),
    ExchangeFault(
        "-2010",
        lambda f, _e: f.faults.error(
            -2010, "Account has insufficient balance for requested action.", times=2, path=ORDER_PATH
        ),
        "execution-rebalance",
        "exchange_requests_total",
        "execution-rebalance",
    ),
    ExchangeFault(
        "-1013",
        lambda f, _e: f.faults.error(-1013, "Filter failure: LOT_SIZE", times=2, path=ORDER_PATH),
        "execution-rebalance",
        "exchange_requests_total",
        "execution-rebalance",
    ),
    ExchangeFault(
        "malformed JSON",
        lambda f, _e: f.faults.malformed(times=1, path=ORDER_PATH),
        "execution-rebalance",
        "exchange_requests_total",
        "execution-rebalance",
    ),
    ExchangeFault(
        "market source down",
        lambda f, _e: [f.faults.fail(503, times=50, path=p) for p in MARKET_PATHS],
        "market-cache-refresh",
        "market_source_requests_total",
        "market",
    ),
]


@pytest.mark.parametrize("fault", EXCHANGE_FAULTS, ids=[f.name for f in EXCHANGE_FAULTS])
def test_exchange_and_market_faults(
    fault: ExchangeFault,
    fake_binance: tuple[FakeBinance, MatchingEngine],
    make_settings: SettingsFactory,
    client_for: Callable[[Any], TestClient],
    database_url: str,
) -> None:
    fake, engine = fake_binance
    client = client_for(_binance_settings(make_settings, fake.url))
    first = _run(client, "execution-rebalance")
    assert first["run"]["status"] == "ok", first
    fills_before, orders_before = _recorded(database_url)
    assert fills_before, "the baseline cycle traded nothing: the fault would hit nothing"
    # move every target so the next cycle has orders to send
    assert client.put("/settings", headers=ADMIN_HEADERS, json={"QT_EXECUTION_CASH_BUFFER": "4000"}).status_code == 200
    metric_before = _metric_sum(client, fault.metric, _not_ok)

    fault.inject(fake, engine)
    run = _run(client, fault.job)
    engine.release.set()  # let a stalled request finish

    assert run["run"]["status"] in ("degraded", "failed"), run
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded", body
    assert any(fault.reason in reason for reason in body["reasons"]), body["reasons"]
    assert _metric_sum(client, fault.metric, _not_ok) > metric_before
    fills_after, orders_after = _recorded(database_url)
    assert fills_before <= fills_after, "a recorded fill was lost"
    assert orders_before <= orders_after, "a recorded order was lost"
    # still serving, and the portfolio is readable
    assert client.get("/portfolio", headers=ADMIN_HEADERS).status_code == 200


def test_database_unreachable(make_settings: SettingsFactory, client_for: Callable[[Any], TestClient]) -> None:
    client = client_for(make_settings(database={"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["reasons"][0].startswith("database: ")
    run = client.post("/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS)
    assert run.status_code == 200
    assert run.json()["run"]["status"] in ("failed", "degraded")
    assert _metric_sum(client, "database_up") == 0
    assert client.get("/metrics").status_code == 200  # the process is still up


def test_audit_log_unwritable(
    make_settings: SettingsFactory, client_for: Callable[[Any], TestClient], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the audit directory should be")
    client = client_for(make_settings(app={"QT_ADMIN_AUDIT_PATH": str(blocker / "audit.log")}))
    before = client.get("/settings", headers=ADMIN_HEADERS).json()
    response = client.put("/settings", headers=ADMIN_HEADERS, json={"QT_EXECUTION_MAX_ORDERS": 3})
    assert response.status_code == 503
    assert client.get("/settings", headers=ADMIN_HEADERS).json() == before  # nothing applied
    body = client.get("/health").json()
    assert body["status"] == "degraded"
    assert any(reason.startswith("audit: ") for reason in body["reasons"]), body["reasons"]
    assert _metric_sum(client, "admin_audit_write_failures_total") >= 1


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [(Path.unlink, "missing"), (_truncate, "sha256"), (_tamper, "sha256")],
    ids=["missing", "truncated", "tampered"],
)
def test_model_artifact_damaged(
    damage: Callable[[Path], None],
    fragment: str,
    make_settings: SettingsFactory,
    client_for: Callable[[Any], TestClient],
    tmp_path: Path,
) -> None:
    from ai_engine.registry import ModelRegistry
    from ai_engine.training import ActivationPolicy, TrainingRequest, train
    from backend.tests.ai.factories import fast_model_settings, random_walk_bars, write_replay_dir
    from database.session import make_engine, make_session_factory

    settings = make_settings(model=fast_model_settings())
    replay = write_replay_dir(tmp_path / "replay", random_walk_bars(n_symbols=3, n_bars=700, seed=11, momentum=0.3))
    engine = make_engine(settings.database.effective_url)
    try:
        registry = ModelRegistry(settings.model.artifacts_dir, make_session_factory(engine))
        outcome = train(TrainingRequest(source=f"replay:{replay}", activate=ActivationPolicy.FORCE), settings, registry)
    finally:
        engine.dispose()
    model_file = (
        Path(outcome.model_path)
        if getattr(outcome, "model_path", None)
        else next(settings.model.artifacts_dir.glob("models/*/model.ubj"))
    )
    damage(model_file)

    client = client_for(settings)
    body = client.get("/health").json()
    assert body["status"] == "degraded", body
    model_reasons = [reason for reason in body["reasons"] if reason.startswith("model: ")]
    assert model_reasons, body["reasons"]
    assert fragment in model_reasons[0].lower(), model_reasons
    assert _metric_sum(client, "model_active") == 0
    info = client.get("/ai/model-info")
    assert info.status_code == 200  # the service runs on without the model
    assert client.post("/scheduler/jobs/liquidity-refresh/run", headers=ADMIN_HEADERS).status_code == 200
