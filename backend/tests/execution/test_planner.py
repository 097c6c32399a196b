from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.exchanges.base import OrderSide, OrderType
from backend.exchanges.filters import filter_failure
from backend.execution.planner import PlanParams, client_order_id, plan_orders
from backend.tests.execution.fakes import rules_for

D = Decimal
RULES = {
    "BTCUSDT": rules_for("BTCUSDT", step="0.00001", min_notional="5"),
    "ETHUSDT": rules_for("ETHUSDT", step="0.0001"),
    "SOLUSDT": rules_for("SOLUSDT", step="0.01"),
    "XRPUSDT": rules_for("XRPUSDT", step="1", tick="0.0001"),
    "HALTUSDT": rules_for("HALTUSDT", status="HALT"),
}
MARKS = {"BTCUSDT": D(50000), "ETHUSDT": D(3000), "SOLUSDT": D(150), "XRPUSDT": D("0.5"), "HALTUSDT": D(1)}


def plan(**kwargs):  # type: ignore[no-untyped-def]
    args = {
        "cycle_id": "7",
        "weights": {},
        "positions": {},
        "cash": D(10000),
        "marks": MARKS,
        "rules": RULES,
        "params": PlanParams(cost_margin_bps=D(0)),
    }
    args.update(kwargs)
    return plan_orders(**args)


def test_buys_the_selection_from_cash() -> None:
    p = plan(weights={"BTCUSDT": D("0.5"), "ETHUSDT": D("0.5")})
    assert {(o.symbol, o.side) for o in p.orders} == {("BTCUSDT", OrderSide.BUY), ("ETHUSDT", OrderSide.BUY)}
    btc = next(o for o in p.orders if o.symbol == "BTCUSDT")
    assert btc.quantity == D("0.1")
    assert p.equity == D(10000)


def test_sells_come_before_buys_and_unselected_holdings_are_sold() -> None:
    p = plan(weights={"ETHUSDT": D(1)}, positions={"SOLUSDT": D(10)}, cash=D(1000))
    assert [o.side for o in p.orders] == [OrderSide.SELL, OrderSide.BUY]
    sell = p.orders[0]
    assert (sell.symbol, sell.quantity) == ("SOLUSDT", D(10))
    assert sell.note == "not selected: full exit"


@pytest.mark.parametrize(("allow_partial", "expected_qty"), [(True, D(5)), (False, D(10))])
def test_partial_sell_or_full_exit(allow_partial: bool, expected_qty: Decimal) -> None:
    # 10 SOL = 1500 of 2500 equity; target 30% = 750 -> sell 5 (or all 10 when partial is off)
    p = plan(
        weights={"SOLUSDT": D("0.3"), "ETHUSDT": D("0.7")},
        positions={"SOLUSDT": D(10)},
        cash=D(1000),
        params=PlanParams(allow_partial=allow_partial, cost_margin_bps=D(0)),
    )
    sell = next(o for o in p.orders if o.side is OrderSide.SELL)
    assert sell.quantity == expected_qty


def test_orders_below_min_notional_are_dropped_with_a_reason() -> None:
    p = plan(weights={"ETHUSDT": D(1)}, positions={"ETHUSDT": D("3.3")}, cash=D(40))
    assert p.orders == []
    assert [s.reason for s in p.skipped] == ["below QT_EXECUTION_MIN_NOTIONAL"]


def test_at_most_max_orders_largest_first() -> None:
    weights = {"BTCUSDT": D("0.4"), "ETHUSDT": D("0.3"), "SOLUSDT": D("0.2"), "XRPUSDT": D("0.1")}
    p = plan(weights=weights, params=PlanParams(max_orders=2, cost_margin_bps=D(0)))
    assert [o.symbol for o in p.orders] == ["BTCUSDT", "ETHUSDT"]
    assert {s.symbol: s.reason for s in p.skipped} == {
        "SOLUSDT": "beyond QT_EXECUTION_MAX_ORDERS",
        "XRPUSDT": "beyond QT_EXECUTION_MAX_ORDERS",
    }


def test_orders_are_cut_to_the_risk_limits_with_a_reason() -> None:
    p = plan(
        weights={"BTCUSDT": D("0.5"), "ETHUSDT": D("0.5")},
        positions={"ETHUSDT": D(1)},
        cash=D(7000),
        params=PlanParams(max_notional_per_trade=D(1000), max_position_per_symbol=D(3500), cost_margin_bps=D(0)),
    )
    btc = next(o for o in p.orders if o.symbol == "BTCUSDT")
    eth = next(o for o in p.orders if o.symbol == "ETHUSDT")
    assert btc.notional == D(1000)
    assert "cut to QT_MAX_NOTIONAL_PER_TRADE" in (btc.note or "")
    # ETH holds 3000, its cap is 3500: only 500 more
    assert eth.notional <= D(500)
    assert "cut to QT_MAX_POSITION_PER_SYMBOL" in (eth.note or "")


def test_buys_never_spend_more_than_cash_plus_what_sells_free() -> None:
    p = plan(
        weights={"BTCUSDT": D(1)},
        positions={"SOLUSDT": D(10)},
        cash=D(100),
        params=PlanParams(cost_margin_bps=D(100)),
    )
    sells = sum(o.notional for o in p.sells) * D("0.99")
    buys = sum(o.notional for o in p.buys) * D("1.01")
    assert buys <= D(100) + sells


def test_halted_and_unpriced_symbols_are_skipped_with_a_reason() -> None:
    p = plan(weights={"HALTUSDT": D("0.5"), "NOPEUSDT": D("0.5")})
    assert {s.symbol: s.reason for s in p.skipped} == {
        "HALTUSDT": "symbol status HALT",
        "NOPEUSDT": "no mark price",
    }


def test_client_order_ids_are_deterministic_and_fit_binance() -> None:
    assert client_order_id("12", "BTCUSDT", OrderSide.BUY) == "qt-12-BTCUSDT-B"
    assert client_order_id("12", "BTCUSDT", OrderSide.BUY) == client_order_id("12", "BTCUSDT", OrderSide.BUY)
    long_id = client_order_id("123456789012", "VERYLONGSYMBOLNAMEUSDT", OrderSide.SELL)
    assert len(long_id) <= 36
    assert long_id != client_order_id("123456789012", "VERYLONGSYMBOLNAMEUSDT", OrderSide.BUY)


symbols = list(MARKS)[:4]
weights_st = st.lists(st.integers(min_value=0, max_value=10), min_size=4, max_size=4).map(
    lambda xs: {s: D(x) / D(sum(xs)) for s, x in zip(symbols, xs, strict=True) if x} if sum(xs) else {}
)
positions_st = st.fixed_dictionaries(
    {s: st.decimals(min_value=0, max_value=50, places=3, allow_nan=False, allow_infinity=False) for s in symbols}
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weights=weights_st,
    positions=positions_st,
    cash=st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False),
    max_orders=st.integers(min_value=1, max_value=6),
    margin=st.sampled_from([D(0), D(30), D(60)]),
    per_trade=st.sampled_from([None, D(500), D(5000)]),
    allow_partial=st.booleans(),
)
def test_property_every_order_passes_the_rules_and_cash_never_goes_negative(
    weights: dict[str, Decimal],
    positions: dict[str, Decimal],
    cash: Decimal,
    max_orders: int,
    margin: Decimal,
    per_trade: Decimal | None,
    allow_partial: bool,
) -> None:
    params = PlanParams(
        max_orders=max_orders, cost_margin_bps=margin, max_notional_per_trade=per_trade, allow_partial=allow_partial
    )
    p = plan(weights=weights, positions=positions, cash=cash, params=params)
    assert len(p.orders) <= max_orders
    seen_buy = False
    available = cash
    m = margin / D(10_000)
    for order in p.orders:
        assert filter_failure(RULES[order.symbol], order.quantity, order.price, OrderType.MARKET) is None
        assert order.notional >= params.min_notional
        if per_trade is not None:
            assert order.notional <= per_trade
        if order.side is OrderSide.SELL:
            assert not seen_buy, "sells come first"
            assert order.quantity <= positions[order.symbol]
            available += order.notional * (1 - m)
        else:
            seen_buy = True
            available -= order.notional * (1 + m)
            assert available >= 0, "a buy would spend cash the plan does not have"
    assert len({o.client_order_id for o in p.orders}) == len(p.orders)


def test_allow_partial_false_measures_the_minimum_on_the_excess() -> None:
    # 10 SOL = 1500; target 1495.50 -> excess 4.50, below the 50 minimum: the position stays
    params = PlanParams(allow_partial=False, cost_margin_bps=D(0), min_notional=D(50))
    p = plan(weights={"SOLUSDT": D("0.997")}, positions={"SOLUSDT": D(10)}, cash=D(0), params=params)
    assert p.orders == []
    assert [s.reason for s in p.skipped] == ["excess below QT_EXECUTION_MIN_NOTIONAL"]
    # a real reduction (target 750) is still a full exit
    p = plan(weights={"SOLUSDT": D("0.5")}, positions={"SOLUSDT": D(10)}, cash=D(0), params=params)
    assert [(o.side, o.quantity) for o in p.orders] == [(OrderSide.SELL, D(10))]
