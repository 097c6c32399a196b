from __future__ import annotations

from decimal import Decimal

import pytest

from backend.exchanges.base import OrderType
from backend.exchanges.filters import filter_failure, floor_to_step, quantize_price, quantize_quantity
from backend.tests.execution.fakes import rules_for

D = Decimal


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        ("1.23456", "0.001", "1.234"),
        ("0.0009", "0.001", "0"),
        ("5", "1", "5"),
        ("5.999", "1", "5"),
        ("12.5", "0", "12.5"),
        ("0.123456789", "0.00000001", "0.12345678"),
        ("100", "0.5", "100"),
    ],
)
def test_floor_to_step_never_rounds_up(value: str, step: str, expected: str) -> None:
    assert floor_to_step(D(value), D(step)) == D(expected)


def test_market_orders_use_the_market_step_size_when_set() -> None:
    rules = rules_for("BTCUSDT", step="0.00001", market_step="0.001")
    assert quantize_quantity(rules, D("0.123456"), OrderType.MARKET) == D("0.123")
    assert quantize_quantity(rules, D("0.123456"), OrderType.LIMIT) == D("0.12345")


def test_quantity_is_capped_at_the_maximum() -> None:
    rules = rules_for("BTCUSDT", max_qty="10")
    assert quantize_quantity(rules, D("25.5")) == D("10")


def test_price_floored_to_tick() -> None:
    assert quantize_price(rules_for("BTCUSDT", tick="0.1"), D("101.27")) == D("101.2")


@pytest.mark.parametrize(
    ("qty", "price", "order_type", "expected"),
    [
        ("0.5", "100", OrderType.MARKET, None),
        ("0", "100", OrderType.MARKET, "LOT_SIZE"),
        ("0.0005", "100000", OrderType.MARKET, "LOT_SIZE"),  # below min qty
        ("0.0015", "100", OrderType.MARKET, "LOT_SIZE"),  # not a step multiple
        ("200000", "1", OrderType.MARKET, "LOT_SIZE"),  # above max qty
        ("0.01", "100", OrderType.MARKET, "NOTIONAL"),  # 1 USDT < 5
        ("1", "100.005", OrderType.LIMIT, "PRICE_FILTER"),  # off tick
        ("1", "100.01", OrderType.LIMIT, None),
    ],
)
def test_filter_failure_names_the_binance_filter(
    qty: str, price: str, order_type: OrderType, expected: str | None
) -> None:
    assert filter_failure(rules_for("BTCUSDT"), D(qty), D(price), order_type) == expected
