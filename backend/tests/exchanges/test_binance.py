"""The Binance adapter through the real python-binance client against the local Binance server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from backend.exchanges.base import OrderRequest, OrderSide, OrderStatus
from backend.exchanges.binance import BinanceExchange, api_url
from backend.exchanges.binance_codes import classify
from backend.exchanges.errors import (
    ExchangeConfigError,
    OrderRejectedError,
    RateLimitedError,
    TemporaryExchangeError,
    UnknownOutcomeError,
)
from backend.execution.ledger import Ledger
from backend.execution.planner import PlanParams
from backend.execution.service import ExecutionService
from backend.execution.tradelog import TradesLog
from backend.market.sources.simulated import SimulatedMarket
from backend.market.types import MarketSnapshot
from backend.observability.metrics import Metrics
from backend.risk.guard import RiskGuard
from backend.risk.guarded import GuardedExchange
from backend.risk.store import RiskStateStore
from backend.tests.fakes.binance_account import MatchingEngine
from backend.tests.fakes.binance_server import FakeBinance
from config.risk import RiskSettings
from database.session import make_engine, make_session_factory

D = Decimal
REPO = Path(__file__).resolve().parents[3]
KEY, SECRET = "fake-api-key", "fake-api-secret"


def adapter(url: str, *, timeout: float = 5.0, key: str = KEY) -> BinanceExchange:
    return BinanceExchange(api_key=key, api_secret=SECRET, base_url=url, timeout=timeout)


def buy(symbol: str, qty: str, coid: str = "qt-1-X-B") -> OrderRequest:
    return OrderRequest(symbol, OrderSide.BUY, D(qty), coid)


@pytest.mark.parametrize(
    ("base_url", "testnet", "expected"),
    [
        (None, False, "https://api.binance.com/api"),
        (None, True, "https://testnet.binance.vision/api"),
        ("http://127.0.0.1:9", True, "http://127.0.0.1:9/api"),
        ("http://127.0.0.1:9/api/", False, "http://127.0.0.1:9/api"),
    ],
)
def test_base_url_testnet_and_override(base_url: str | None, testnet: bool, expected: str) -> None:
    assert api_url(base_url, testnet) == expected


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (-1013, 400, "reject"),
        (-2010, 400, "reject"),
        (-1121, 400, "reject"),
        (-1021, 400, "retry"),
        (-1008, 503, "unknown"),
        (-1001, 503, "unknown"),
        (-1000, 500, "unknown"),
        (-1003, 429, "rate"),
        (-1003, 418, "rate"),
        (-1015, 400, "rate"),
        (-2015, 401, "config"),
        (-1022, 400, "config"),
    ],
)
def test_error_codes_map_to_what_to_do_next(code: int, status: int, kind: str) -> None:
    assert classify(code, status) == kind


async def test_market_buy_fills_and_the_account_follows(server: tuple[FakeBinance, MatchingEngine]) -> None:
    fake, _engine = server
    ex = adapter(fake.url)
    result = await ex.submit_order(buy("ETHUSDT", "0.5", "qt-1-ETHUSDT-B"))
    assert result.status is OrderStatus.FILLED
    assert result.client_order_id == "qt-1-ETHUSDT-B"
    assert result.executed_quantity == D("0.5")
    assert sum(f.quantity for f in result.fills) == D("0.5")
    assert all(f.fee_asset == "ETH" and f.order_id == result.exchange_order_id for f in result.fills)
    account = await ex.account()
    assert account.balances["ETH"].free == D("0.5") - sum(f.fee for f in result.fills)
    assert account.balances["USDT"].free == D(10000) - result.quote_quantity
    assert account.fees_bps == {"maker": D(10), "taker": D(10)}
    trades = await ex.trades("ETHUSDT")
    assert [t.trade_id for t in trades] == [f.trade_id for f in result.fills]
    found = await ex.query_order("ETHUSDT", "qt-1-ETHUSDT-B")
    assert found is not None
    assert (found.status, found.executed_quantity) == (OrderStatus.FILLED, D("0.5"))
    assert await ex.query_order("ETHUSDT", "never-sent") is None
    signed = [r for r in fake.requests if r.path == "/api/v3/order" and r.method == "POST"]
    assert signed[0].params["recvWindow"] == "5000"
    assert signed[0].params["newClientOrderId"] == "qt-1-ETHUSDT-B"
    await ex.close()


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (buy("ETHUSDT", "0.00001"), -1013),  # LOT_SIZE
        (buy("ETHUSDT", "3"), -2010),  # insufficient balance
        (buy("NOPEUSDT", "1"), -1121),
    ],
)
async def test_rejections_are_not_retried(
    server: tuple[FakeBinance, MatchingEngine], request_: OrderRequest, code: int
) -> None:
    ex = adapter(server[0].url)
    with pytest.raises(OrderRejectedError) as caught:
        await ex.submit_order(request_)
    assert caught.value.code == code
    assert server[1].orders == []


async def test_bad_key_is_a_configuration_error(server: tuple[FakeBinance, MatchingEngine]) -> None:
    with pytest.raises(ExchangeConfigError):
        await adapter(server[0].url, key="wrong").account()


async def test_rate_limit_backs_off_per_retry_after_without_calling(server: tuple[FakeBinance, MatchingEngine]) -> None:
    fake, _ = server
    ex = adapter(fake.url)
    await ex.account()
    fake.faults.rate_limit(status=429, retry_after=30, path="/api/v3/account")
    with pytest.raises(RateLimitedError) as caught:
        await ex.account()
    assert caught.value.retry_after == 30
    sent = len(fake.requests)
    with pytest.raises(RateLimitedError):
        await ex.submit_order(buy("ETHUSDT", "0.1"))
    assert len(fake.requests) == sent  # nothing went out while backing off


async def test_server_errors_unknown_for_orders_temporary_for_reads(server: tuple[FakeBinance, MatchingEngine]) -> None:
    fake, engine = server
    ex = adapter(fake.url)
    fake.faults.fail(status=503, path="/api/v3/account")
    with pytest.raises(TemporaryExchangeError):
        await ex.account()
    fake.faults.fail(status=502, path="/api/v3/order")
    with pytest.raises(UnknownOutcomeError):
        await ex.submit_order(buy("ETHUSDT", "0.1"))
    assert engine.orders == []


async def test_clock_skew_and_timestamp_errors_resync(server: tuple[FakeBinance, MatchingEngine]) -> None:
    fake, _ = server
    fake.faults.clock_skew_ms = 40_000  # far outside recvWindow unless the adapter syncs
    ex = adapter(fake.url)
    await ex.account()
    fake.faults.clock_skew_ms = -30_000  # the server clock moved: the next call gets -1021 once
    account = await ex.account()
    assert account.balances["USDT"].free == D(10000)


async def test_timeout_after_acceptance_is_unknown_and_found_by_client_id(
    server: tuple[FakeBinance, MatchingEngine],
) -> None:
    fake, engine = server
    engine.stall_after_accept = 1
    ex = adapter(fake.url, timeout=0.5)
    with pytest.raises(UnknownOutcomeError):
        await ex.submit_order(buy("ETHUSDT", "0.2", "qt-9-ETHUSDT-B"))
    engine.release.set()
    found = await ex.query_order("ETHUSDT", "qt-9-ETHUSDT-B")
    assert found is not None
    assert found.executed_quantity == D("0.2")
    assert len(engine.orders) == 1


# ----------------------------------------------------------------------------- whole cycles
def _snapshot_fn(market: SimulatedMarket):  # type: ignore[no-untyped-def]
    async def snapshot() -> MarketSnapshot:
        return MarketSnapshot(
            taken_at=datetime.now(UTC),
            source="simulated",
            rules=market.symbol_rules(),
            tickers=market.tickers_24h(),
            book_tops=market.book_tops(),
        )

    return snapshot


def _service(  # type: ignore[no-untyped-def]
    url: str,
    database_url: str,
    tmp_path: Path,
    market: SimulatedMarket,
    timeout: float = 5.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    store = RiskStateStore(f"sqlite:///{tmp_path / 'risk.db'}")
    store.create()
    risk = RiskSettings(_env_file=None, QT_MAX_NOTIONAL_PER_TRADE="100000", QT_MAX_PRICE_STALENESS_SECONDS="3600")  # type: ignore[call-arg]
    guard = RiskGuard(store, lambda: risk)
    guard.load()
    ex = adapter(url, timeout=timeout)
    service = ExecutionService(
        ledger=Ledger(sessions, exchange="binance", quote_asset="USDT", clock=clock),
        exchange=GuardedExchange(ex, guard),
        snapshot=_snapshot_fn(market),
        selection=lambda: {"BTCUSDT": D("0.4"), "ETHUSDT": D("0.3"), "BNBUSDT": D("0.3")},
        params=lambda: PlanParams(max_notional_per_trade=D(100000), cost_margin_bps=D(60)),
        metrics=Metrics(),
        trades_log=TradesLog(tmp_path / "trades.log"),
        clock=clock,
    )
    return service, ex, engine, store


async def _assert_ledger_matches_exchange(service: ExecutionService, ex: BinanceExchange) -> None:
    account = await ex.account()
    ledger = service.ledger
    assert ledger.cash() == account.balances["USDT"].free
    for p in ledger.positions().values():
        assert p.quantity == (account.balances[p.base_asset].free if p.base_asset in account.balances else 0)
    exchange_trades = {t.trade_id for s in ledger.positions() for t in await ex.trades(s)}
    assert ledger.fill_count() == len(exchange_trades)


async def test_cycle_with_a_timeout_after_acceptance_sends_one_order_not_two(
    server: tuple[FakeBinance, MatchingEngine], market: SimulatedMarket, database_url: str, tmp_path: Path
) -> None:
    fake, engine = server
    engine.stall_after_accept = 1
    service, ex, db, store = _service(fake.url, database_url, tmp_path, market, timeout=0.5)
    try:
        assert (await service.reconcile()).seeded
        report = await service.run_cycle()
        engine.release.set()
        assert report.status == "ok", report
        ids = [o["clientOrderId"] for o in engine.orders]
        assert len(ids) == len(set(ids)) == report.submitted == 3
        await _assert_ledger_matches_exchange(service, ex)
    finally:
        service.close()
        db.dispose()
        store.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _close(proc: subprocess.Popen[str]) -> None:
    if proc.stdout is not None:
        proc.stdout.close()


def _start(port: int, state: Path, die_after: int = 0) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "backend.tests.fakes.binance_process", "--port", str(port), "--state", str(state)]
    if die_after:
        cmd += ["--die-after-accept", str(die_after)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY"), line
    return proc


@pytest.mark.slow
async def test_server_process_dies_mid_cycle_and_restart_recovers_without_duplicates(
    market: SimulatedMarket, database_url: str, tmp_path: Path
) -> None:
    port, state = _free_port(), tmp_path / "exchange.json"
    proc = _start(port, state, die_after=2)  # dies right after accepting the cycle's 2nd order
    url = f"http://127.0.0.1:{port}"
    later = [timedelta(0)]  # the trading clock, moved past the unknown order's lookup backoff below
    service, ex, db, store = _service(
        url, database_url, tmp_path, market, timeout=2.0, clock=lambda: datetime.now(UTC) + later[0]
    )
    try:
        await service.reconcile()
        first = await service.run_cycle()
        assert proc.wait(timeout=10) == 3
        _close(proc)
        assert first.status == "degraded"
        assert len(first.unresolved) == 1  # the order the dead server accepted but never answered

        proc = _start(port, state)
        later[0] = timedelta(seconds=31)  # the next cycle comes after the lookup backoff (at most 30 s)
        second = await service.run_cycle()  # resolves the unknown order first, then rebalances
        assert second.status == "ok", second
        third = await service.run_cycle()
        assert third.status == "ok", third

        orders = json.loads(state.read_text())["orders"]
        ids = [o["clientOrderId"] for o in orders]
        assert len(ids) == len(set(ids)), "a client order id reached the exchange twice"
        assert first.unresolved[0] in ids
        await _assert_ledger_matches_exchange(service, ex)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        _close(proc)
        service.close()
        db.dispose()
        store.close()


async def test_commission_rates_are_read_signed(server: tuple[FakeBinance, MatchingEngine]) -> None:
    rates = await adapter(server[0].url).commission("BTCUSDT")
    assert rates["standardCommission"]["taker"] == "0.00100000"


async def test_market_buy_by_quote_amount_never_spends_more(server: tuple[FakeBinance, MatchingEngine]) -> None:
    fake, _engine = server
    ex = adapter(fake.url)
    request = OrderRequest("ETHUSDT", OrderSide.BUY, D("0.5"), "qt-7-ETHUSDT-B", quote_quantity=D("999.00"))
    result = await ex.submit_order(request)
    assert 0 < result.quote_quantity <= D("999.00")
    assert result.executed_quantity > 0
    sent = [r for r in fake.requests if r.path == "/api/v3/order" and r.method == "POST"][-1]
    assert sent.params["quoteOrderQty"] == "999"
    assert "quantity" not in sent.params
    found = await ex.orders("ETHUSDT")
    assert [o.client_order_id for o in found] == ["qt-7-ETHUSDT-B"]
    await ex.close()
