"""maker_first when the exchange refuses the maker order: Binance answers -2010 both when a
LIMIT_MAKER would cross the book and when the account cannot pay for it. Only the first is finished
with limit_ioc at once; a balance refusal is recorded and not sent again as a taker."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from backend.exchanges.base import Exchange, OrderRequest, OrderResult, OrderType
from backend.exchanges.errors import OrderRejectedError
from backend.tests.execution.fakes import NOW, Clock, FakeMarket
from backend.tests.execution.harness import build
from backend.tests.execution.test_maker_first import WEIGHTS, params
from database.models.execution import Order

D = Decimal


class NoBalanceForMakers:
    """The paper exchange, except that the account cannot pay for a LIMIT_MAKER (Binance's -2010)."""

    def __init__(self, inner: Exchange) -> None:
        self._inner = inner
        self.sent: list[OrderRequest] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def submit_order(self, request: OrderRequest) -> OrderResult:
        self.sent.append(request)
        if request.order_type is OrderType.LIMIT_MAKER:
            raise OrderRejectedError("Account has insufficient balance for requested action.", code=-2010)
        return await self._inner.submit_order(request)


def orders(sessions: Any) -> list[Order]:
    with sessions() as session:
        return list(session.scalars(select(Order).order_by(Order.id)))


async def test_a_maker_order_refused_for_its_balance_is_not_resent_as_a_taker(
    database_url: str, tmp_path: Path
) -> None:
    market = FakeMarket({"ETHUSDT": D(1000)}, spread_bps=D(2), depth=D(2))
    wrapped: list[NoBalanceForMakers] = []

    def wrap(inner: Exchange) -> Exchange:
        wrapped.append(NoBalanceForMakers(inner))
        return wrapped[0]  # type: ignore[return-value]

    h = build(database_url, tmp_path, market, weights=WEIGHTS, params=params(), clock=Clock(NOW, market), wrap=wrap)
    try:
        await h.service.reconcile()
        report = await h.service.run_cycle()
        [maker] = orders(h.sessions)
        assert (maker.order_type, maker.status, maker.error_code) == ("LIMIT_MAKER", "REJECTED", -2010)
        assert [r.order_type for r in wrapped[0].sent] == [OrderType.LIMIT_MAKER]  # no "-t" taker after it
        assert report.failed == 1
    finally:
        h.close()


async def test_a_maker_order_refused_because_the_book_crossed_it_is_finished_with_limit_ioc(
    database_url: str, tmp_path: Path
) -> None:
    # the book the paper exchange matches against has moved 1 % below the cycle's book tops: a
    # LIMIT_MAKER buy at the old best bid would take the asks
    market = FakeMarket({"ETHUSDT": D(1000)}, spread_bps=D(2), depth=D(2), depth_factor={"ETHUSDT": D("0.99")})
    h = build(database_url, tmp_path, market, weights=WEIGHTS, params=params(), clock=Clock(NOW, market))
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        maker, taker = orders(h.sessions)
        assert (maker.status, maker.error_code) == ("REJECTED", -2010)
        assert (taker.client_order_id, taker.order_type, taker.status) == (
            f"{maker.client_order_id}-t",
            "LIMIT",
            "FILLED",
        )
    finally:
        h.close()
