"""The Grafana dashboard and the Prometheus alerts query only series the service really exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.gen_reference import exposed_series

MONITORING = Path(__file__).resolve().parents[3] / "docs" / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
ALERTS = MONITORING / "alerts.yml"

# PromQL words that look like identifiers but are not metric names
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "inf", "nan", "le",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names used by a PromQL expression (functions, labels, keywords and numbers removed)."""
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", expr)  # grouping labels
    expr = re.sub(r'"[^"]*"', " ", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group(0)
        following = expr[match.end() :].lstrip()
        if following.startswith("(") or word.lower() in PROMQL_WORDS:
            continue  # a function call or a keyword
        names.add(word)
    return names


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("rate(http_requests_total[5m])", {"http_requests_total"}),
        (
            'sum by (scheduler_job, status) (increase(scheduler_job_runs_total{status="failed"}[15m])) > 0',
            {"scheduler_job_runs_total"},
        ),
        ("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))", {"x_bucket"}),
        ("max(a) == 0 or max(b) > 0.9 * 720 * 3600", {"a", "b"}),
    ],
)
def test_metric_names_are_extracted_from_promql(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_dashboard_query_uses_exposed_metrics() -> None:
    series = exposed_series()
    exprs = _dashboard_exprs()
    assert exprs
    for expr in exprs:
        assert metric_names(expr) <= series, f"{expr!r} uses {metric_names(expr) - series}"


def test_every_alert_uses_exposed_metrics() -> None:
    series = exposed_series()
    for rule in _alert_rules():
        assert metric_names(rule["expr"]) <= series, f"{rule['alert']} uses {metric_names(rule['expr']) - series}"


@pytest.mark.parametrize(
    "metric",
    [
        "portfolio_equity",
        "execution_gross_exposure",
        "execution_orders_total",
        "risk_decisions_total",
        "risk_kill_switch_enabled",
        "scheduler_job_runs_total",
        "scheduler_job_duration_seconds_bucket",
        "model_inference_duration_seconds_bucket",
        "market_cache_requests_total",
        "http_request_duration_seconds_bucket",
    ],
)
def test_dashboard_covers(metric: str) -> None:
    assert any(metric in metric_names(expr) for expr in _dashboard_exprs())


@pytest.mark.parametrize(
    ("alert", "metric"),
    [
        ("QuantumTraderKillSwitchOn", "risk_kill_switch_enabled"),
        ("QuantumTraderJobFailing", "scheduler_job_runs_total"),
        ("QuantumTraderMarketDataStale", "market_data_age_seconds"),
        ("QuantumTraderDailyLossNearLimit", "risk_daily_realised_pnl"),
        ("QuantumTraderModelStale", "model_age_seconds"),
    ],
)
def test_alert_exists_for(alert: str, metric: str) -> None:
    rules = {rule["alert"]: rule for rule in _alert_rules()}
    assert alert in rules
    assert metric in metric_names(rules[alert]["expr"])
    assert rules[alert]["labels"]["severity"] in {"critical", "warning", "info"}
    assert rules[alert]["annotations"]["summary"]


def test_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        assert all(target["refId"] for target in panel["targets"])
