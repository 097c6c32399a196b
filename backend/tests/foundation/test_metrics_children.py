"""Metric children: ``labels(name=value)`` of an existing series returns the very child
prometheus-client made (the trading path's shortcut), and every misuse is refused as before."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from backend.exchanges.base import OrderSide
from backend.observability.metrics import Metrics


def test_labels_return_the_one_child_of_a_series_however_it_is_named() -> None:
    metrics = Metrics()
    counter = metrics.exchange_requests
    first = counter.labels(exchange="paper", endpoint="account", outcome="ok")
    first.inc()
    assert counter.labels(exchange="paper", endpoint="account", outcome="ok") is first
    assert counter.labels(outcome="ok", endpoint="account", exchange="paper") is first  # any order
    assert counter.labels("paper", "account", "ok") is first
    counter.labels(exchange="paper", endpoint="account", outcome="ok").inc()
    text = generate_latest(metrics.registry).decode()
    assert 'exchange_requests_total{endpoint="account",exchange="paper",outcome="ok"} 2.0' in text

    # a value is the text of what was given, as prometheus-client makes it
    orders = metrics.execution_orders
    by_text = orders.labels(side="BUY", status="submitted")
    assert orders.labels(side=str(OrderSide.BUY), status="submitted") is orders.labels(
        side=str(OrderSide.BUY), status="submitted"
    )
    assert (orders.labels(side=OrderSide.BUY, status="submitted") is by_text) == (str(OrderSide.BUY) == "BUY")

    gauge = metrics.market_data_age.labels(kind="tickers")
    assert metrics.market_data_age.labels(kind="tickers") is gauge
    histogram = metrics.execution_shortfall_bps.labels(side="SELL")
    assert metrics.execution_shortfall_bps.labels(side="SELL") is histogram


def test_misused_labels_are_refused_as_by_prometheus_client() -> None:
    counter = Metrics().exchange_requests
    child = counter.labels(exchange="paper", endpoint="account", outcome="ok")
    with pytest.raises(ValueError, match="can not chain"):
        child.labels(exchange="paper", endpoint="account", outcome="ok")
    with pytest.raises(ValueError, match="Incorrect label names"):
        counter.labels(exchange="paper", endpoint="account", result="ok")
    with pytest.raises(ValueError, match="Incorrect label names"):
        counter.labels(exchange="paper", endpoint="account")
    with pytest.raises(ValueError, match="both"):
        counter.labels("paper", endpoint="account", outcome="ok")
