"""The service's paper exchange fills resting orders from the market service's closed bars, as the
backtest does: driven through the real app and its jobs (replay source, paper exchange, maker_first),
a resting buy fills when a later bar trades through its price, though the book never reaches it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.backtest.clock import BacktestClock
from backend.main import create_app
from backend.tests.backtest.factories import BACKTEST_ENV, START
from backend.tests.backtest.trend import HOUR, SYMBOL, write_trend
from backend.tests.conftest import SettingsFactory
from database.models.execution import FillRecord, Order

# the replay source shows its first day at start-up, then one more bar per market refresh
FIRST_VISIT = START + timedelta(days=1) + HOUR


def records(client: TestClient) -> tuple[list[Order], list[FillRecord]]:
    sessions = client.app.state.ctx.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        orders = list(session.scalars(select(Order).order_by(Order.id)))
        fills = list(session.scalars(select(FillRecord).order_by(FillRecord.id)))
    return orders, fills


def test_a_resting_paper_order_fills_from_a_later_bar_that_trades_through_it(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    # bar 26 closes two bars after the maker buy was placed and dips 1 % below its open
    folder = write_trend(tmp_path / "market", dips={26: 0.99})
    sections: dict[str, dict[str, Any]] = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    sections["market"] = {
        "QT_MARKET_DATA_SOURCE": "replay",
        "QT_REPLAY_DIR": str(folder),
        "QT_MARKET_KLINE_INTERVAL": "1h",
        "QT_MARKET_CACHE_TTL_SECONDS": "3599",
    }
    sections["liquidity"]["QT_LIQUIDITY_WHITELIST"] = SYMBOL
    sections["execution"].update(
        {
            "QT_EXECUTION_ORDER_STYLE": "maker_first",
            "QT_EXECUTION_MAKER_TIMEOUT_SECONDS": "36000",  # no fallback: only the market fills it
            "QT_EXECUTION_MAKER_REPRICES": "0",  # it stays at its price while the book moves up
            "QT_PAPER_FILL_VOLUME_SHARE": "0.5",
        }
    )
    clock = BacktestClock(FIRST_VISIT - HOUR)
    client = TestClient(create_app(make_settings(**sections), clock=clock))
    with client:
        ctx = client.app.state.ctx  # type: ignore[attr-defined]
        portal = client.portal
        assert portal is not None

        def bar(index: int, *jobs: str) -> None:
            clock.set(FIRST_VISIT + HOUR * index)
            for job in ("market-cache-refresh", *jobs):
                portal.call(ctx.runner.run_now, job)

        bar(0, "liquidity-refresh", "execution-rebalance")
        [maker], _ = records(client)
        assert (maker.order_type, maker.status) == ("LIMIT_MAKER", "NEW")
        bar(1, "execution-resting")  # bar 25 stays above the order: it rests
        orders, fills = records(client)
        assert ([o.status for o in orders], fills) == (["NEW"], [])

        bar(2, "execution-resting")  # bar 26 traded through it
        book = portal.call(ctx.services["market"].order_book, SYMBOL, 20)
        still_open = portal.call(ctx.services["execution"].exchange.open_orders)
        orders, fills = records(client)

    [maker] = orders
    assert still_open == []  # nothing left resting on the paper exchange
    price = fills[0].price
    assert book.asks[0].price > price  # the book alone would not have filled it
    assert (maker.status, maker.executed_quantity) == ("FILLED", maker.requested_quantity)
    assert {(f.time, f.price) for f in fills} == {(FIRST_VISIT + 2 * HOUR, price)}
    assert sum((f.quantity for f in fills), Decimal(0)) == maker.requested_quantity
