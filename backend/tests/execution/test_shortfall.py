"""Implementation shortfall: the sign and units per order, the cycle's sum, and the figure in
/trades, /execution/runs and /metrics after a real cycle on the paper exchange (which buys at the ask
and sells at the bid, so a round trip costs about the spread)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from backend.execution.shortfall import ShortfallSum, shortfall_of
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory

D = Decimal


def test_a_cost_is_positive_on_either_side_and_fees_stay_apart() -> None:
    buy = shortfall_of("BUY", D(100), D(2), D("200.2"), fees=D("0.2"))  # average 100.1
    assert buy is not None
    assert (buy.bps, buy.quote, buy.fees) == (D("10.00"), D("0.2"), D("0.2"))
    sell = shortfall_of("SELL", D(100), D(2), D("199.9"))  # average 99.95: 5 bps below the mark
    assert sell is not None
    assert (sell.bps, sell.quote) == (D("5.00"), D("0.1"))
    better = shortfall_of("BUY", D(100), D(1), D("99.9"))
    assert better is not None
    assert better.bps == D("-10.00")
    assert shortfall_of("BUY", D(100), D(0), D(0)) is None  # nothing executed
    assert shortfall_of("BUY", None, D(1), D(100)) is None  # no arrival mark


def test_a_cycle_sums_quote_and_weighs_bps_by_arrival_notional() -> None:
    total = ShortfallSum().extend(
        [
            shortfall_of("BUY", D(100), D(9), D("900.9"), fees=D("0.9")),  # 10 bps on 900
            shortfall_of("SELL", D(50), D(2), D("99.8")),  # 20 bps on 100
            None,
        ]
    )
    assert total.orders == 2
    assert total.quote == D("1.1")
    assert total.bps == D("11.00")  # 1.1 / 1000
    assert total.as_dict() == {"orders": 2, "quote": "1.1", "bps": "11.00", "arrival_notional": "1000", "fees": "0.9"}
    assert ShortfallSum().bps is None


def test_the_shortfall_is_shown_per_order_per_cycle_and_in_metrics(
    client_for: Any, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        risk={"QT_MAX_NOTIONAL_PER_TRADE": "100000", "QT_MAX_PRICE_STALENESS_SECONDS": "86400"},
        execution={"QT_EXECUTION_MAX_ORDERS": "50"},
    )
    client = client_for(settings)
    run = client.post("/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS)
    assert run.status_code == 200, run.text
    details = run.json()["details"]
    assert details["orders_submitted"] > 0
    cycle = details["shortfall"]
    assert cycle["orders"] == details["orders_submitted"]

    trades = client.get("/trades", headers=ADMIN_HEADERS).json()
    orders = [o for o in trades["orders"] if Decimal(o["executed_quantity"]) > 0]
    assert orders
    for order in orders:
        # buys walk the ask side: a cost, never more than the paper slippage cap allows
        average = Decimal(order["quote_quantity"]) / Decimal(order["executed_quantity"])
        arrival = Decimal(order["reference_price"])
        expected = ((average - arrival) / arrival * 10_000).quantize(Decimal("0.01"))
        assert Decimal(order["shortfall_bps"]) == expected, order
        assert Decimal(order["shortfall_bps"]) > 0
    quote = sum(Decimal(o["shortfall_quote"]) for o in orders)
    assert Decimal(cycle["quote"]) == quote

    summary = client.get("/execution/runs", headers=ADMIN_HEADERS).json()["runs"][0]
    assert summary["shortfall"]["orders"] == cycle["orders"]
    assert Decimal(summary["shortfall"]["bps"]) == Decimal(cycle["bps"]) > 0
    assert Decimal(summary["shortfall"]["fees"]) > 0
    detail = client.get(f"/execution/runs/{summary['id']}", headers=ADMIN_HEADERS).json()
    assert all(o["shortfall_bps"] is not None for o in detail["orders"] if Decimal(o["executed_quantity"]) > 0)

    metrics = client.get("/metrics").text
    assert f'execution_shortfall_bps_count{{side="BUY"}} {float(len(orders))}' in metrics
    assert f"execution_cycle_shortfall_bps {float(Decimal(cycle['bps']))}" in metrics
