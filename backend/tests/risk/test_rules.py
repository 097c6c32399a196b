"""Each rule alone and the guard's evaluation order: tables of orders, contexts and expected rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from backend.risk.models import RiskContext, RuleName
from backend.risk.rules import RULES, GuardState, OrderView, build_rules
from backend.risk.rules.price_sanity import PriceSanityRule
from backend.tests.risk.conftest import T0, context, order, risk_settings

CALM = GuardState(kill_switch=False, kill_switch_reason=None, realised_pnl_today=Decimal(0), pending={})


def first_refusal(view: OrderView, **env: Any) -> tuple[RuleName | None, str | None]:
    for rule in build_rules(risk_settings(**env)):
        if view.reducing and not rule.checks_reducing:
            continue
        reason = rule.evaluate(view)
        if reason is not None:
            return rule.name, reason
    return None, None


def test_rules_are_registered_in_the_documented_order() -> None:
    assert [rule.name for rule in RULES] == [
        RuleName.KILL_SWITCH,
        RuleName.PRICE_SANITY,
        RuleName.NOTIONAL_PER_TRADE,
        RuleName.DAILY_LOSS,
        RuleName.EQUITY_DRAWDOWN,
        RuleName.SYMBOL_COOLDOWN,
        RuleName.DAILY_TURNOVER,
        RuleName.POSITION_PER_SYMBOL,
        RuleName.GROSS_EXPOSURE,
    ]
    assert all(rule.description for rule in RULES)


@pytest.mark.parametrize(
    ("price", "reference", "age", "expected"),
    [
        pytest.param(Decimal("NaN"), "100", 1, "not finite", id="nan-decimal"),
        pytest.param(float("nan"), "100", 1, "not finite", id="nan-float"),
        pytest.param(Decimal("Infinity"), "100", 1, "not finite", id="inf"),
        pytest.param(float("-inf"), "100", 1, "not finite", id="minus-inf"),
        pytest.param(Decimal(0), "100", 1, "not positive", id="zero"),
        pytest.param(Decimal("-5"), "100", 1, "not positive", id="negative"),
        pytest.param(Decimal("20"), "20", 1, "outside the bounds", id="below-symbol-bound"),
        pytest.param(Decimal("2000000"), "2000000", 1, "outside the bounds", id="above-symbol-bound"),
        pytest.param(Decimal("106"), "100", 1, "deviates", id="deviation-above-5pct"),
        pytest.param(Decimal("94"), "100", 1, "deviates", id="deviation-below-5pct"),
        pytest.param(Decimal("100"), "100", 301, "stale", id="stale-reference"),
        pytest.param(Decimal("100"), "100", -400, "from the future", id="future-reference"),
        pytest.param(Decimal("100"), None, 1, "no reference price", id="no-reference"),
        pytest.param(Decimal("100"), Decimal("NaN"), 1, "reference price NaN", id="nan-reference"),
        pytest.param(Decimal("100"), Decimal("0"), 1, "reference price 0", id="zero-reference"),
        pytest.param(Decimal("100"), Decimal("-1"), 1, "reference price -1", id="negative-reference"),
        pytest.param(["1"], "100", 1, "not a number", id="garbage"),
        pytest.param(None, None, 1, "no price", id="no-price-at-all"),
    ],
)
def test_insane_prices_are_refused_by_price_sanity(price: Any, reference: Any, age: float, expected: str) -> None:
    view = OrderView(order("ETHUSDT", price=price), context(reference=reference, age_seconds=age), CALM)
    rule, reason = first_refusal(view)
    assert rule is RuleName.PRICE_SANITY
    assert reason is not None
    assert expected in reason


@pytest.mark.parametrize(
    ("price", "reference", "age"),
    [
        pytest.param(Decimal("105"), "100", 1, id="deviation-exactly-5pct"),
        pytest.param(Decimal("100"), "100", 300, id="age-exactly-at-limit"),
        pytest.param(None, "100", 1, id="market-order-uses-reference"),
    ],
)
def test_sane_prices_pass(price: Any, reference: Any, age: float) -> None:
    view = OrderView(order("ETHUSDT", price=price), context(reference=reference, age_seconds=age), CALM)
    assert first_refusal(view) == (None, None)


def test_symbol_without_own_bounds_uses_the_global_ones() -> None:
    config = PriceSanityRule.config_from(risk_settings(QT_MIN_PRICE="1", QT_MAX_PRICE="10"))
    assert PriceSanityRule(config).evaluate(OrderView(order("SOLUSDT"), context(reference="5"), CALM)) is None
    refused = PriceSanityRule(config).evaluate(OrderView(order("SOLUSDT"), context(reference="11"), CALM))
    assert refused is not None
    assert "outside the bounds [1, 10]" in refused


def test_plan_reference_price_is_checked_against_the_context_reference() -> None:
    view = OrderView(order("ETHUSDT", reference_price="150"), context(reference="100"), CALM)
    assert first_refusal(view)[0] is RuleName.PRICE_SANITY


@pytest.mark.parametrize(
    ("env", "side", "quantity", "state", "positions", "expected"),
    [
        pytest.param({}, "BUY", "10", CALM, {}, None, id="notional-at-limit"),
        pytest.param({}, "BUY", "10.01", CALM, {}, RuleName.NOTIONAL_PER_TRADE, id="notional-over"),
        pytest.param({}, "SELL", "10.01", CALM, {}, RuleName.NOTIONAL_PER_TRADE, id="sales-are-size-limited-too"),
        pytest.param({}, "BUY", "0", CALM, {}, RuleName.NOTIONAL_PER_TRADE, id="zero-quantity"),
        pytest.param({}, "BUY", "-1", CALM, {}, RuleName.NOTIONAL_PER_TRADE, id="negative-quantity"),
        pytest.param({}, "BUY", "NaN", CALM, {}, RuleName.NOTIONAL_PER_TRADE, id="nan-quantity"),
        pytest.param(
            {},
            "BUY",
            "1",
            GuardState(True, "operator", Decimal(0), {}),
            {},
            RuleName.KILL_SWITCH,
            id="kill-switch-blocks-buys",
        ),
        pytest.param(
            {},
            "SELL",
            "1",
            GuardState(True, "operator", Decimal(0), {}),
            {"ETHUSDT": Decimal(500)},
            RuleName.KILL_SWITCH,
            id="kill-switch-blocks-sales",
        ),
        pytest.param(
            {}, "BUY", "1", GuardState(False, None, Decimal("-500"), {}), {}, RuleName.DAILY_LOSS, id="loss-reached"
        ),
        pytest.param(
            {}, "BUY", "1", GuardState(False, None, Decimal("-499.99"), {}), {}, None, id="loss-just-under-limit"
        ),
        pytest.param(
            {},
            "SELL",
            "1",
            GuardState(False, None, Decimal("-900"), {}),
            {"ETHUSDT": Decimal(500)},
            None,
            id="loss-limit-lets-sales-through",
        ),
        pytest.param(
            {"QT_MAX_POSITION_PER_SYMBOL": "550"},
            "BUY",
            "1",
            CALM,
            {"ETHUSDT": Decimal(450)},
            None,
            id="position-at-limit",
        ),
        pytest.param(
            {"QT_MAX_POSITION_PER_SYMBOL": "550"},
            "BUY",
            "1",
            GuardState(False, None, Decimal(0), {"ETHUSDT": Decimal(1)}),
            {"ETHUSDT": Decimal(450)},
            RuleName.POSITION_PER_SYMBOL,
            id="pending-counts-toward-position",
        ),
        pytest.param(
            {"QT_MAX_POSITION_PER_SYMBOL": "100"},
            "SELL",
            "1",
            CALM,
            {"ETHUSDT": Decimal(900)},
            None,
            id="sale-above-position-limit-allowed",
        ),
        pytest.param(
            {"QT_MAX_POSITION_PER_SYMBOL": "0"},
            "BUY",
            "1",
            CALM,
            {"ETHUSDT": Decimal(10**6)},
            None,
            id="position-limit-off-when-zero",
        ),
        pytest.param(
            {"QT_MAX_GROSS_EXPOSURE": "1000"},
            "BUY",
            "1",
            CALM,
            {"BTCUSDT": Decimal(600), "SOLUSDT": Decimal(301)},
            RuleName.GROSS_EXPOSURE,
            id="gross-over",
        ),
        pytest.param(
            {"QT_MAX_GROSS_EXPOSURE": "1000"},
            "BUY",
            "1",
            CALM,
            {"BTCUSDT": Decimal(600), "SOLUSDT": Decimal(300)},
            None,
            id="gross-at-limit",
        ),
        pytest.param(
            {"QT_MAX_GROSS_EXPOSURE": "1000"},
            "SELL",
            "1",
            CALM,
            {"BTCUSDT": Decimal(5000), "ETHUSDT": Decimal(100)},
            None,
            id="sale-lowers-gross",
        ),
        pytest.param(
            {"QT_MAX_GROSS_EXPOSURE": ""},
            "BUY",
            "1",
            CALM,
            {"BTCUSDT": Decimal(10**7)},
            None,
            id="gross-off-when-unset",
        ),
    ],
)
def test_limits_table(
    env: dict[str, str],
    side: str,
    quantity: str,
    state: GuardState,
    positions: dict[str, Decimal],
    expected: RuleName | None,
) -> None:
    # price 100 (the reference): notional = quantity × 100; default per-trade limit 1000
    view = OrderView(order("ETHUSDT", side=side, quantity=quantity), context(positions=positions), state)
    assert first_refusal(view, **env)[0] is expected


def test_a_sale_never_projects_below_zero() -> None:
    view = OrderView(order("ETHUSDT", side="SELL", quantity="5"), context(positions={"ETHUSDT": Decimal(100)}), CALM)
    assert view.projected_symbol_exposure == 0
    assert view.projected_gross_exposure == 0


def test_a_naive_reference_time_is_refused() -> None:
    naive = RiskContext(now=T0, reference_price=Decimal(100), reference_time=T0.replace(tzinfo=None))
    assert first_refusal(OrderView(order("ETHUSDT"), naive, CALM)) == (
        RuleName.PRICE_SANITY,
        "reference time is naive (needs a UTC-aware datetime)",
    )


def test_rules_take_time_from_the_context_not_a_clock() -> None:
    later = RiskContext(now=T0.replace(year=2030), reference_price=Decimal(100), reference_time=T0)
    view = OrderView(order("ETHUSDT"), later, CALM)
    assert first_refusal(view)[0] is RuleName.PRICE_SANITY
