from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.exchanges.base import AccountSnapshot, Exchange, Fill, OrderRequest, OrderResult
from backend.exchanges.errors import TemporaryExchangeError, UnknownOutcomeError
from backend.exchanges.paper import PaperConfig
from backend.execution.planner import PlanParams
from backend.tests.execution.fakes import Clock, FakeMarket
from backend.tests.execution.harness import Harness, build
from config.risk import RiskSettings

D = Decimal
PRICES = {"BTCUSDT": D(50000), "ETHUSDT": D(3000), "SOLUSDT": D(150)}


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    h = build(database_url, tmp_path, FakeMarket(dict(PRICES)), weights={"BTCUSDT": D("0.5"), "ETHUSDT": D("0.5")})
    yield h
    h.close()


async def test_one_cycle_holds_the_selection(harness: Harness) -> None:
    assert (await harness.service.reconcile()).seeded
    report = await harness.service.run_cycle()
    assert report.status == "ok", report
    assert (report.planned, report.submitted, report.failed) == (2, 2, 0)
    positions = harness.service.ledger.positions()
    assert set(positions) == {"BTCUSDT", "ETHUSDT"}
    portfolio = await harness.service.portfolio()
    for p in portfolio.positions:
        assert abs(p.market_value - portfolio.equity / 2) < portfolio.equity * D("0.01")
    # the ledger agrees with the exchange's account
    account = await harness.adapter.account()
    assert harness.service.ledger.cash() == account.balances["USDT"].free
    for p in positions.values():
        assert p.quantity == account.balances[p.base_asset].free
    lines = [json.loads(line) for line in harness.trades_log.read_text().splitlines()]
    assert [e["event"] for e in lines].count("order_filled") == 2
    assert harness.metrics.portfolio_equity._value.get() == pytest.approx(float(portfolio.equity))  # type: ignore[attr-defined]


async def test_repeated_cycles_at_the_same_prices_converge(harness: Harness) -> None:
    await harness.service.reconcile()
    await harness.service.run_cycle()
    await harness.service.run_cycle()  # spends part of the cash held back for fees and slippage
    report = await harness.service.run_cycle()
    assert report.submitted == 0
    assert all(s["reason"] == "below QT_EXECUTION_MIN_NOTIONAL" for s in report.skipped_orders)


async def test_kill_switch_on_submits_nothing_and_says_why(harness: Harness) -> None:
    await harness.service.reconcile()
    harness.guard.set_kill_switch_sync(True, "operator drill", "test")
    report = await harness.service.run_cycle()
    assert report.status == "halted"
    assert report.submitted == 0
    assert "kill switch on: operator drill" in (report.reason or "")
    assert {s["reason"] for s in report.skipped_orders} == {"kill switch on: operator drill"}
    assert await harness.adapter.trades("BTCUSDT") == []
    assert harness.service.ledger.client_order_ids() == []


async def test_risk_refusal_is_recorded_with_its_rule(database_url: str, tmp_path: Path) -> None:
    # the planner does not cut (no per-trade limit passed), so the guard refuses the large order
    risk = RiskSettings(_env_file=None, QT_MAX_NOTIONAL_PER_TRADE="2000")  # type: ignore[call-arg]
    h = build(
        database_url,
        tmp_path,
        FakeMarket(dict(PRICES)),
        weights={"BTCUSDT": D("0.9"), "ETHUSDT": D("0.1")},
        risk=risk,
        params=PlanParams(),
    )
    try:
        await h.service.reconcile()
        report = await h.service.run_cycle()
        refused = [s for s in report.skipped_orders if s["reason"].startswith("risk guard refused")]
        assert [s["symbol"] for s in refused] == ["BTCUSDT"]
        assert "notional_per_trade" in refused[0]["reason"]
        assert report.submitted == 1
    finally:
        h.close()


async def test_no_selection_yet_skips_the_cycle(harness: Harness) -> None:
    harness.weights = None
    report = await harness.service.run_cycle()
    assert (report.status, report.reason, report.submitted) == ("skipped", "no universe selection yet", 0)


async def test_unselected_holdings_are_sold(harness: Harness) -> None:
    await harness.service.reconcile()
    await harness.service.run_cycle()
    harness.weights = {"SOLUSDT": D(1)}
    report = await harness.service.run_cycle()
    assert report.status == "ok"
    positions = harness.service.ledger.positions()
    assert positions["BTCUSDT"].quantity < D("0.001")
    assert positions["ETHUSDT"].quantity < D("0.001")
    assert positions["SOLUSDT"].quantity > 0


class LosesAnswers:
    """Forwards to the paper exchange, then loses the answer: the order exists, the caller times out."""

    def __init__(self, inner: Exchange, lose: int = 1, query_fails: bool = False) -> None:
        self.inner = inner
        self.name = inner.name
        self.lose = lose
        self.query_fails = query_fails
        self.submits: list[str] = []

    async def account(self) -> AccountSnapshot:
        return await self.inner.account()

    async def submit_order(self, request: OrderRequest) -> OrderResult:
        self.submits.append(request.client_order_id)
        result = await self.inner.submit_order(request)
        if self.lose > 0:
            self.lose -= 1
            raise UnknownOutcomeError("read timed out")
        return result

    async def query_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        if self.query_fails:
            raise TemporaryExchangeError("still down")
        return await self.inner.query_order(symbol, client_order_id)

    async def trades(self, symbol: str, since: object = None) -> list[Fill]:
        return await self.inner.trades(symbol, since)  # type: ignore[arg-type]

    async def close(self) -> None:
        await self.inner.close()


async def test_timeout_after_acceptance_is_looked_up_not_resent(database_url: str, tmp_path: Path) -> None:
    wrappers: list[LosesAnswers] = []

    def wrap(inner: Exchange) -> Exchange:
        wrappers.append(LosesAnswers(inner))
        return wrappers[0]

    h = build(database_url, tmp_path, FakeMarket(dict(PRICES)), weights={"ETHUSDT": D(1)}, wrap=wrap)
    try:
        await h.service.reconcile()
        report = await h.service.run_cycle()
        assert report.status == "ok", report
        assert wrappers[0].submits == ["qt-2-ETHUSDT-B"]  # sent once
        fills = await h.adapter.trades("ETHUSDT")
        assert h.service.ledger.fill_count() == len(fills) > 0
        assert h.service.ledger.positions()["ETHUSDT"].quantity == (await h.adapter.account()).balances["ETH"].free
    finally:
        h.close()


async def test_unresolved_unknown_order_blocks_new_orders_until_found(database_url: str, tmp_path: Path) -> None:
    wrappers: list[LosesAnswers] = []

    def wrap(inner: Exchange) -> Exchange:
        wrappers.append(LosesAnswers(inner, query_fails=True))
        return wrappers[0]

    market = FakeMarket(dict(PRICES))
    clock = Clock(market=market)
    h = build(
        database_url, tmp_path, market, weights={"ETHUSDT": D("0.5"), "BTCUSDT": D("0.5")}, wrap=wrap, clock=clock
    )
    try:
        await h.service.reconcile()
        first = await h.service.run_cycle()
        assert first.status == "degraded"
        assert len(wrappers[0].submits) == 1
        assert first.unresolved == [wrappers[0].submits[0]]
        second = await h.service.run_cycle()
        assert second.submitted == 0
        assert len(wrappers[0].submits) == 1
        assert "unknown outcome" in (second.reason or "")
        wrappers[0].query_fails = False
        clock.advance(60)  # lookups run on a backoff
        third = await h.service.run_cycle()
        assert third.status == "ok", third
        # the lost order was found and recorded once; no client order id was sent twice
        assert len(set(wrappers[0].submits)) == len(wrappers[0].submits)
        account = await h.adapter.account()
        for p in h.service.ledger.positions().values():
            assert p.quantity == account.balances[p.base_asset].free
    finally:
        h.close()


async def test_startup_reconciliation_reports_and_adopts_differences(database_url: str, tmp_path: Path) -> None:
    h = build(database_url, tmp_path, FakeMarket(dict(PRICES)), weights={"ETHUSDT": D(1)})
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        # an operator deposits cash straight into the exchange account
        from sqlalchemy import update

        from database.models.execution import PaperBalance

        with h.sessions.begin() as s:
            s.execute(update(PaperBalance).where(PaperBalance.asset == "USDT").values(free=D(12345)))
        report = await h.service.reconcile()
        assert [d["asset"] for d in report.differences] == ["USDT"]
        assert h.service.ledger.cash() == D(12345)
    finally:
        h.close()


async def test_paper_fee_and_cash_identity_after_cycles(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket(dict(PRICES))
    h = build(database_url, tmp_path, market, weights={"BTCUSDT": D("0.6"), "SOLUSDT": D("0.4")}, paper=PaperConfig())
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        market.prices["BTCUSDT"] = D(52000)
        h.weights = {"ETHUSDT": D("0.7"), "SOLUSDT": D("0.3")}
        await h.service.run_cycle()
        p = await h.service.portfolio()
        assert abs(p.equity - (p.contributed + p.realised_pnl + p.unrealised_pnl)) < D("0.01")
    finally:
        h.close()


async def test_concurrent_cycles_run_one_after_the_other(harness: Harness) -> None:
    import asyncio

    await harness.service.reconcile()
    first, second = await asyncio.gather(harness.service.run_cycle(), harness.service.run_cycle())
    assert first.submitted == 2
    # the second cycle started after the first one finished: it saw the positions, bought little
    assert second.run_id == first.run_id + 1
    portfolio = await harness.service.portfolio()
    assert portfolio.cash >= 0
    assert portfolio.gross_exposure <= portfolio.equity


symbols_st = st.sampled_from(sorted(PRICES))
cycle_st = st.tuples(
    st.dictionaries(symbols_st, st.integers(min_value=1, max_value=5), max_size=3),
    st.dictionaries(symbols_st, st.decimals(min_value=D("0.7"), max_value=D("1.4"), places=2), max_size=3),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cycles=st.lists(cycle_st, min_size=1, max_size=4))
def test_property_cycles_never_overdraw_and_the_ledger_matches_the_exchange(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, cycles: list[tuple[dict[str, int], dict[str, Decimal]]]
) -> None:
    import asyncio

    async def run() -> None:
        market = FakeMarket(dict(PRICES))
        h = build(database_url, tmp_path_factory.mktemp("cycles"), market, weights=None)
        try:
            await h.service.reconcile()
            for raw_weights, moves in cycles:
                total = sum(raw_weights.values())
                h.weights = {s: D(w) / D(total) for s, w in raw_weights.items()} if total else {}
                for symbol, factor in moves.items():
                    market.prices[symbol] = PRICES[symbol] * factor
                report = await h.service.run_cycle()
                assert report.failed == 0, report.errors
                account = await h.adapter.account()
                assert account.balances["USDT"].free >= 0
                assert h.service.ledger.cash() == account.balances["USDT"].free
                for p in h.service.ledger.positions().values():
                    held = account.balances[p.base_asset].free if p.base_asset in account.balances else D(0)
                    assert p.quantity == held
            p = await h.service.portfolio()
            assert abs(p.equity - (p.contributed + p.realised_pnl + p.unrealised_pnl)) < D("0.01")
        finally:
            h.close()

    asyncio.run(run())


class DropsRequests(LosesAnswers):
    """The request never reaches the exchange, but the caller cannot know: outcome unknown."""

    async def submit_order(self, request: OrderRequest) -> OrderResult:
        self.submits.append(request.client_order_id)
        if self.lose > 0:
            self.lose -= 1
            raise UnknownOutcomeError("connection reset")
        return await self.inner.submit_order(request)


async def test_unknown_outcome_never_placed_is_failed_then_replanned(database_url: str, tmp_path: Path) -> None:
    wrappers: list[DropsRequests] = []

    def wrap(inner: Exchange) -> Exchange:
        wrappers.append(DropsRequests(inner))
        return wrappers[0]

    market = FakeMarket(dict(PRICES))
    clock = Clock(market=market)
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D(1)}, wrap=wrap, clock=clock)
    try:
        await h.service.reconcile()
        first = await h.service.run_cycle()
        assert (first.submitted, first.failed, first.unresolved) == (0, 1, ["qt-2-ETHUSDT-B"])
        assert await h.adapter.trades("ETHUSDT") == []
        clock.advance(60)
        within_grace = await h.service.run_cycle()  # still unknown: nothing new is sent
        assert within_grace.submitted == 0
        clock.advance(120)  # past QT_EXECUTION_UNKNOWN_GRACE_SECONDS: searched, declared never placed
        second = await h.service.run_cycle()
        assert second.submitted == 1
        assert wrappers[0].submits == ["qt-2-ETHUSDT-B", "qt-4-ETHUSDT-B"]  # a new cycle, a new id
        assert h.service.ledger.positions()["ETHUSDT"].quantity == (await h.adapter.account()).balances["ETH"].free
    finally:
        h.close()
