from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import Fill, OrderSide
from backend.execution.ledger import Ledger
from database.session import make_engine, make_session_factory

D = Decimal
T0 = datetime(2026, 11, 25, tzinfo=UTC)
CENT = D("0.01")
_exchange_names = itertools.count()


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def ledger(sessions: sessionmaker[Session], name: str = "paper") -> Ledger:
    return Ledger(sessions, exchange=name, quote_asset="USDT", clock=lambda: T0)


def fill(
    trade_id: str, symbol: str, side: OrderSide, price: str, qty: str, fee: str = "0", fee_asset: str = "USDT"
) -> Fill:
    return Fill(trade_id, symbol, side, D(price), D(qty), D(fee), fee_asset, T0)


BASES = {"BTCUSDT": "BTC", "ETHUSDT": "ETH", "BNBUSDT": "BNB"}


def test_each_fill_is_recorded_once(sessions: sessionmaker[Session]) -> None:
    led = ledger(sessions)
    led.seed(D(10000))
    first = [fill("1", "BTCUSDT", OrderSide.BUY, "50000", "0.1", "5")]
    assert len(led.record_fills(first, base_assets=BASES)) == 1
    again = [*first, fill("2", "BTCUSDT", OrderSide.BUY, "50000", "0.1", "5")]
    assert [r.fill.trade_id for r in led.record_fills(again, base_assets=BASES)] == ["2"]
    assert led.fill_count() == 2
    assert led.cash() == D(10000) - D(10010)
    assert led.positions()["BTCUSDT"].quantity == D("0.2")


def test_average_cost_and_realised_pnl_net_of_fees(sessions: sessionmaker[Session]) -> None:
    led = ledger(sessions)
    led.seed(D(10000))
    led.record_fills(
        [
            fill("1", "ETHUSDT", OrderSide.BUY, "1000", "2", "2"),
            fill("2", "ETHUSDT", OrderSide.BUY, "1300", "1", "1.3"),
            fill("3", "ETHUSDT", OrderSide.SELL, "1500", "1.5", "2.25"),
        ],
        base_assets=BASES,
    )
    pos = led.positions()["ETHUSDT"]
    assert pos.average_cost == D(1100)
    assert pos.quantity == D("1.5")
    # (1500 - 1100) * 1.5 = 600, minus every fee 2 + 1.3 + 2.25
    assert pos.realised_pnl == D(600) - D("5.55")
    assert pos.fees_paid == D("5.55")


def test_base_asset_fee_reduces_the_quantity_received(sessions: sessionmaker[Session]) -> None:
    led = ledger(sessions)
    led.seed(D(1000))
    led.record_fills([fill("1", "ETHUSDT", OrderSide.BUY, "500", "1", "0.001", "ETH")], base_assets=BASES)
    pos = led.positions()["ETHUSDT"]
    assert pos.quantity == D("0.999")
    assert pos.fees_paid == D("0.5")  # converted at the fill price
    assert led.cash() == D(500)


def test_bnb_fee_is_converted_and_leaves_the_bnb_holding(sessions: sessionmaker[Session]) -> None:
    led = ledger(sessions)
    led.seed(D(10000))
    led.record_fills([fill("1", "BNBUSDT", OrderSide.BUY, "600", "1")], base_assets=BASES)
    led.record_fills(
        [fill("2", "ETHUSDT", OrderSide.BUY, "3000", "1", "0.005", "BNB")],
        base_assets=BASES,
        conversions={"BNB": D(600)},
    )
    positions = led.positions()
    assert positions["BNBUSDT"].quantity == D("0.995")
    assert positions["ETHUSDT"].fees_paid == D(3)
    assert positions["ETHUSDT"].realised_pnl == D(-3)


def test_orders_are_persisted_before_sending_and_open_until_final(sessions: sessionmaker[Session]) -> None:
    led = ledger(sessions)
    run = led.start_run("cycle")
    led.save_orders(run, [{"client_order_id": "qt-1-BTCUSDT-B", "symbol": "BTCUSDT", "side": "BUY", "quantity": D(1)}])
    assert [o.client_order_id for o in led.open_orders()] == ["qt-1-BTCUSDT-B"]
    led.update_order("qt-1-BTCUSDT-B", status="UNKNOWN", error_message="timeout")
    assert [o.status for o in led.open_orders()] == ["UNKNOWN"]
    led.update_order("qt-1-BTCUSDT-B", status="FILLED")
    assert led.open_orders() == []


def test_history_filters_by_symbol_and_time_and_paginates(sessions: sessionmaker[Session]) -> None:
    led = ledger(sessions)
    led.seed(D(100000))
    fills = [
        Fill(
            str(i),
            "BTCUSDT" if i % 2 else "ETHUSDT",
            OrderSide.BUY,
            D(100),
            D(1),
            D(0),
            "USDT",
            T0 + timedelta(minutes=i),
        )
        for i in range(10)
    ]
    led.record_fills(fills, base_assets=BASES)
    _o, _n, page, total = led.history(symbol="BTCUSDT", since=None, until=None, limit=2, offset=0)
    assert total == 5
    assert [f.trade_id for f in page] == ["9", "7"]
    _o, _n, page, total = led.history(symbol=None, since=T0 + timedelta(minutes=8), until=None, limit=10, offset=0)
    assert total == 2


# --- the accounting identity, recomputed independently from the fill list -----------------------

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT"]
prices = st.decimals(min_value=D("0.5"), max_value=D(60000), places=2, allow_nan=False, allow_infinity=False)


@st.composite
def fill_sequences(draw: st.DrawFn) -> tuple[list[Fill], dict[str, Decimal], Decimal]:
    held = dict.fromkeys(SYMBOLS, D(0))
    fills: list[Fill] = []
    for i in range(draw(st.integers(min_value=1, max_value=25))):
        symbol = draw(st.sampled_from(SYMBOLS))
        base = BASES[symbol]
        price = draw(prices)
        can_sell = held[symbol] > D("0.003")
        side = draw(st.sampled_from([OrderSide.BUY, OrderSide.SELL] if can_sell else [OrderSide.BUY]))
        if side is OrderSide.BUY:
            qty = draw(st.decimals(min_value=D("0.001"), max_value=D(3), places=3))
        else:
            # spot cannot go short: leave room for a fee taken in the base asset
            most = ((held[symbol] - D("0.001")) / D("1.002")).quantize(D("0.001"), rounding="ROUND_DOWN")
            qty = draw(st.decimals(min_value=D("0.001"), max_value=max(most, D("0.001")), places=3))
        rate = D("0.001")
        fee_asset = draw(st.sampled_from(["USDT", base] + (["BNB"] if held["BNBUSDT"] > 1 else [])))
        if fee_asset == "USDT":
            fee = (qty * price * rate).quantize(D("0.00000001"))
        elif fee_asset == base:
            fee = (qty * rate).quantize(D("0.00000001"))
        else:
            fee = D("0.001")
        if side is OrderSide.BUY:
            held[symbol] += qty - (fee if fee_asset == base else 0)
        else:
            held[symbol] -= qty + (fee if fee_asset == base else 0)
        if fee_asset == "BNB":
            held["BNBUSDT"] -= fee
        fills.append(Fill(f"t{i}", symbol, side, price, qty, fee, fee_asset, T0 + timedelta(seconds=i)))
    marks = {s: draw(prices) for s in SYMBOLS}
    return fills, marks, draw(st.decimals(min_value=D(0), max_value=D(500000), places=2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=fill_sequences())
def test_property_cash_plus_positions_equals_start_plus_pnl_to_the_cent(
    sessions: sessionmaker[Session], case: tuple[list[Fill], dict[str, Decimal], Decimal]
) -> None:
    fills, marks, start = case
    led = ledger(sessions, name=f"x{next(_exchange_names)}")  # a fresh ledger per example
    led.seed(start)
    bnb_price = marks["BNBUSDT"]
    for f in fills:  # one call per fill, as orders arrive
        led.record_fills([f], base_assets=BASES, conversions={"BNB": bnb_price})

    # independently, from the fill list alone
    cash = start
    qty = dict.fromkeys(SYMBOLS, D(0))
    fees = D(0)
    for f in fills:
        base = BASES[f.symbol]
        gross = f.price * f.quantity
        if f.side is OrderSide.BUY:
            cash -= gross
            qty[f.symbol] += f.quantity
        else:
            cash += gross
            qty[f.symbol] -= f.quantity
        if f.fee_asset == "USDT":
            cash -= f.fee
            fees += f.fee
        elif f.fee_asset == base:
            qty[f.symbol] -= f.fee
            fees += f.fee * f.price
        else:
            qty["BNBUSDT"] -= f.fee
            fees += f.fee * bnb_price
    value = cash + sum(qty[s] * marks[s] for s in SYMBOLS)

    positions = led.positions()
    assert led.cash() == cash
    for s in SYMBOLS:
        assert (positions[s].quantity if s in positions else D(0)) == qty[s]
    realised = sum((p.realised_pnl for p in positions.values()), D(0))
    unrealised = sum((p.quantity * (marks[s] - p.average_cost) for s, p in positions.items()), D(0))
    ledger_fees = sum((p.fees_paid for p in positions.values()), D(0))
    assert abs(ledger_fees - fees) < CENT
    # realised is net of fees: gross realised = realised + fees; identity: start + gross + unrealised - fees
    gross_realised = realised + ledger_fees
    assert abs((led.cash() + sum(p.quantity * marks[s] for s, p in positions.items())) - value) < CENT
    assert abs(value - (start + gross_realised + unrealised - ledger_fees)) < CENT


@pytest.mark.parametrize(
    ("exchange_quantity", "price"),
    [(D("2.5"), D(1200)), (D("0.4"), D(900)), (D(0), D(1000)), (D(1), D(1000))],
)
def test_reconciliation_adjustment_keeps_the_identity(
    sessions: sessionmaker[Session], exchange_quantity: Decimal, price: Decimal
) -> None:
    led = ledger(sessions)
    led.seed(D(5000))
    led.record_fills([fill("1", "ETHUSDT", OrderSide.BUY, "1000", "1", "1")], base_assets=BASES)
    led.adjust_position("ETHUSDT", "ETH", exchange_quantity, price)
    led.adjust_cash(D(4321))
    pos = led.positions()["ETHUSDT"]
    mark = D(1111)
    value = led.cash() + pos.quantity * mark
    assert pos.quantity == exchange_quantity
    assert value == led.contributed() + pos.realised_pnl + pos.quantity * (mark - pos.average_cost)
