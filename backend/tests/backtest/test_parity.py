"""Live and backtest agree: the service in paper mode on the replay source, driven bar by bar
through its real jobs, places exactly the orders and fills the backtest placed over those bars, in
every order style: with maker_first or slicing, the `execution-resting` job runs between cycles
(every bar: its 15 s cadence is shorter than a bar) as the backtest runs it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.backtest.clock import BacktestClock
from backend.backtest.data import open_replay
from backend.backtest.engine import BacktestConfig, run_backtest
from backend.main import create_app
from backend.tests.backtest.factories import BACKTEST_ENV, START, write_market
from backend.tests.conftest import SettingsFactory
from database.models.execution import FillRecord, Order

STEP = timedelta(hours=1)
# the replay source shows its first day at start-up, then one more bar per market refresh
FIRST_VISIT = START + timedelta(days=1) + STEP
BARS = 30
LIQUIDITY_BARS, REBALANCE_BARS = 3, 2
STYLES = {
    "market": {},
    "maker_first": {
        "QT_EXECUTION_ORDER_STYLE": "maker_first",
        "QT_EXECUTION_MAKER_TIMEOUT_SECONDS": "3600",  # a maker order not filled within a bar is finished
        "QT_EXECUTION_MAKER_REPRICES": "1",
    },
    "sliced": {"QT_EXECUTION_SLICE_NOTIONAL": "1500"},
}


def decision(client_order_id: str | None) -> str | None:
    """The id without its installation prefix (the live service draws one, the backtest uses "qt"):
    what was decided, run by run, symbol by symbol, must be the same."""
    return None if client_order_id is None else client_order_id.split("-", 1)[1]


def order_key(o: Any) -> tuple[Any, ...]:
    return (
        decision(o["client_order_id"]),
        o["symbol"],
        o["side"],
        o["status"],
        o["executed_quantity"],
        o["quote_quantity"],
    )


def fill_key(f: Any) -> tuple[Any, ...]:
    return (f["time"], decision(f["client_order_id"]), f["symbol"], f["side"], f["quantity"], f["price"], f["fee"])


def live_records(session: Session) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    orders = [
        order_key(o.__dict__) for o in session.scalars(select(Order).order_by(Order.id)) if o.status not in ("PENDING",)
    ]
    fills = [fill_key(f.__dict__) for f in session.scalars(select(FillRecord).order_by(FillRecord.id))]
    return orders, fills


@pytest.mark.parametrize("style", list(STYLES))
def test_live_paper_trading_does_exactly_what_the_backtest_did(
    make_settings: SettingsFactory, tmp_path: Path, style: str
) -> None:
    folder = write_market(tmp_path / "market", bars=72)
    last = FIRST_VISIT + STEP * (BARS - 1)
    sections: dict[str, dict[str, Any]] = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    sections["market"] = {
        "QT_MARKET_DATA_SOURCE": "replay",
        "QT_REPLAY_DIR": str(folder),
        "QT_MARKET_KLINE_INTERVAL": "1h",
        "QT_MARKET_CACHE_TTL_SECONDS": "3599",  # what the backtest sets for --market-bars 1
    }
    sections["execution"].update(STYLES[style])
    # the rebalance cadence (a sliced order's window), as the backtest sets it for --rebalance-bars
    sections["scheduler"] = {"QUANTUM_TRADER_EXECUTION_SECONDS": str(REBALANCE_BARS * 3600)}
    settings = make_settings(**sections)

    # the backtest over those bars, with the service's settings
    clock = BacktestClock(FIRST_VISIT)
    config = BacktestConfig(
        start=FIRST_VISIT, end=last, liquidity_bars=LIQUIDITY_BARS, rebalance_bars=REBALANCE_BARS, baselines=()
    )
    result = run_backtest(config, open_replay(folder, clock), clock, settings=settings)
    book = result.books["strategy"]
    assert len(book.fills) > 10  # a run that trades, not a vacuous agreement
    if style != "market":  # and one where orders are finished between cycles
        between = {FIRST_VISIT + STEP * i for i in range(BARS) if i % REBALANCE_BARS}
        assert any(f["time"] in between for f in book.fills), style
        styled = {
            "maker_first": lambda o: o["client_order_id"].endswith("-t"),
            "sliced": lambda o: o["status"] == "SLICED",
        }
        assert any(styled[style](o) for o in book.orders), style

    # the service: its own jobs, one bar at a time, on the same clock
    live_clock = BacktestClock(FIRST_VISIT - STEP)  # it starts (and reconciles) before the first bar
    client = TestClient(create_app(settings, clock=live_clock))
    with client:
        runner = client.app.state.ctx.runner  # type: ignore[attr-defined]
        for index in range(BARS):
            live_clock.set(FIRST_VISIT + STEP * index)
            client.portal.call(runner.run_now, "market-cache-refresh")  # type: ignore[union-attr]
            if index % LIQUIDITY_BARS == 0:
                client.portal.call(runner.run_now, "liquidity-refresh")  # type: ignore[union-attr]
            if index % REBALANCE_BARS == 0:
                client.portal.call(runner.run_now, "execution-rebalance")  # type: ignore[union-attr]
            elif style != "market":
                client.portal.call(runner.run_now, "execution-resting")  # type: ignore[union-attr]
        sessions = client.app.state.ctx.sessions  # type: ignore[attr-defined]
        with sessions() as session:
            orders, fills = live_records(session)
    assert fills == [fill_key(f) for f in book.fills]
    assert orders == [order_key(o) for o in book.orders]
