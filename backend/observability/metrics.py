"""Every Prometheus metric of the service, defined once, in one registry per application.

A registry per app (not the global default) keeps tests independent and lets several apps live in
one process. With PROMETHEUS_MULTIPROC_DIR set, prometheus-client writes values to shared files and
/metrics aggregates them with a MultiProcessCollector: counters and histograms are summed over the
workers; each gauge says how its workers' values combine (``multiprocess_mode``, live workers only),
so a scrape shows one series per gauge rather than one per pid.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as _Counter
from prometheus_client import Gauge as _Gauge
from prometheus_client import Histogram as _Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _KnownChildren:
    """``labels(name=value, ...)`` returns a child that already exists straight from the metric's
    own table of children (the trading path labels several series per order); anything else (a new
    child, positional values, wrong names) goes through prometheus-client's checks as before."""

    _labelnames: tuple[str, ...]

    def labels(self, *labelvalues: Any, **labelkwargs: Any) -> Any:
        children = getattr(self, "_metrics", None)  # only a parent has them
        if children is not None and labelkwargs and not labelvalues and len(labelkwargs) == len(self._labelnames):
            try:
                child = children.get(tuple(str(labelkwargs[name]) for name in self._labelnames))
            except KeyError:
                child = None
            if child is not None:
                return child
        return super().labels(*labelvalues, **labelkwargs)  # type: ignore[misc]


class Counter(_KnownChildren, _Counter):
    pass


class Gauge(_KnownChildren, _Gauge):
    pass


class Histogram(_KnownChildren, _Histogram):
    pass


class Metrics:
    """The service's metrics. Build one per application; pass it to whatever observes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry

        # HTTP
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_request_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

        # Scheduler
        self.scheduler_job_runs = Counter(
            "scheduler_job_runs_total",
            "Scheduler job runs by outcome (ok, degraded, failed, follower, skipped).",
            # not "job": Prometheus renames a scraped "job" label to "exported_job" (job is a target label)
            ["scheduler_job", "status"],
            registry=r,
        )
        self.scheduler_job_duration = Histogram(
            "scheduler_job_duration_seconds",
            "Scheduler job run time.",
            ["scheduler_job"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.scheduler_leader = Gauge(
            "scheduler_leader",
            "1 when this process holds the scheduler leader lock (or needs none).",
            multiprocess_mode="livesum",
            registry=r,
        )

        # Admin and audit
        self.admin_requests = Counter(
            "admin_requests_total",
            "Admin requests by outcome (allowed, missing_token, bad_token, disabled).",
            ["outcome"],
            registry=r,
        )
        self.audit_write_failures = Counter(
            "admin_audit_write_failures_total",
            "Audit lines that could not be written.",
            registry=r,
        )
        self.database_up = Gauge(
            "database_up",
            "1 when the background probe last reached the database.",
            multiprocess_mode="livemin",
            registry=r,
        )

        # Market data
        self.market_cache_requests = Counter(
            "market_cache_requests_total",
            "Market cache look-ups by cache and result (hit, miss).",
            ["cache", "result"],
            registry=r,
        )
        self.market_data_age = Gauge(
            "market_data_age_seconds",
            "Age of the newest market data by kind.",
            ["kind"],
            multiprocess_mode="livemin",
            registry=r,
        )
        self.market_data_expected_age = Gauge(
            "market_data_expected_age_seconds",
            "How old each kind of market data is by nature: the bar interval for klines (the newest closed "
            "bar is up to one interval old), 0 otherwise. Staleness is age minus this.",
            ["kind"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.market_source_requests = Counter(
            "market_source_requests_total",
            "Market source calls by source, endpoint and outcome.",
            ["source", "endpoint", "outcome"],
            registry=r,
        )
        self.market_breaker_open = Gauge(
            "market_breaker_open",
            "1 while the market source circuit breaker is open.",
            ["source"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.sentiment_age = Gauge(
            "sentiment_age_seconds",
            "Age of the last sentiment value.",
            multiprocess_mode="livemin",
            registry=r,
        )

        # Risk
        self.risk_decisions = Counter(
            "risk_decisions_total",
            "Risk guard decisions by rule and outcome (allowed, refused).",
            ["rule", "outcome"],
            registry=r,
        )
        self.risk_kill_switch = Gauge(
            "risk_kill_switch_enabled",
            "1 while the kill switch is on.",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.risk_daily_realised_pnl = Gauge(
            "risk_daily_realised_pnl",
            "Realised PnL of the current UTC day (quote asset).",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.risk_fill_price_halts = Counter(
            "risk_fill_price_halts_total",
            "Automatic halts because an average fill price fell outside the price-sanity bound.",
            ["symbol"],
            registry=r,
        )
        self.risk_equity_drawdown = Gauge(
            "risk_equity_drawdown_percent",
            "Equity's distance below its high-water mark over QT_DRAWDOWN_WINDOW_DAYS, in percent (portfolio marks).",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.risk_daily_turnover = Gauge(
            "risk_daily_turnover",
            "Quote recorded as traded in the current UTC day (QT_MAX_DAILY_TURNOVER caps it).",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.risk_protection_halts = Counter(
            "risk_protection_halts_total",
            "Automatic halts started by a protection (equity_drawdown).",
            ["protection"],
            registry=r,
        )
        self.risk_gross_exposure = Gauge(
            "risk_gross_exposure",
            "Gross exposure the risk guard knows of (quote asset).",
            multiprocess_mode="livemostrecent",
            registry=r,
        )

        # Model
        self.model_inference_duration = Histogram(
            "model_inference_duration_seconds",
            "Time to score one batch of symbols.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_predictions = Counter(
            "model_predictions_total",
            "Model predictions by action.",
            ["action"],
            registry=r,
        )
        self.model_active = Gauge(
            "model_active",
            "1 while an active, verified, fresh model is loaded.",
            multiprocess_mode="livemin",
            registry=r,
        )
        self.model_age = Gauge(
            "model_age_seconds",
            "Age of the active model: from the older of its training time and the end of its training data.",
            multiprocess_mode="livemin",
            registry=r,
        )

        # Liquidity
        self.liquidity_selected = Gauge(
            "liquidity_selected_symbols",
            "Symbols in the latest selection.",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.liquidity_eligible = Gauge(
            "liquidity_eligible_symbols",
            "Symbols that passed every filter in the latest run.",
            multiprocess_mode="livemostrecent",
            registry=r,
        )

        # Execution
        self.execution_shortfall_bps = Histogram(
            "execution_shortfall_bps",
            "Implementation shortfall per executed order: average fill vs the arrival mark, basis points "
            "(+ cost, - improvement; fees apart).",
            ["side"],
            buckets=(-50.0, -20.0, -10.0, -5.0, -2.0, 0.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0),
            registry=r,
        )
        self.execution_cycle_shortfall_quote = Gauge(
            "execution_cycle_shortfall_quote",
            "The latest cycle's implementation shortfall summed over its orders (quote asset, fees apart).",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.execution_cycle_shortfall_bps = Gauge(
            "execution_cycle_shortfall_bps",
            "The latest cycle's implementation shortfall in basis points of its arrival notional.",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.execution_orders = Counter(
            "execution_orders_total",
            "Orders by side and status (submitted, filled, rejected, refused, failed, unknown).",
            ["side", "status"],
            registry=r,
        )
        self.execution_gross_exposure = Gauge(
            "execution_gross_exposure",
            "Gross exposure after the latest cycle (quote asset).",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.portfolio_equity = Gauge(
            "portfolio_equity",
            "Portfolio equity at mark (quote asset).",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.exchange_requests = Counter(
            "exchange_requests_total",
            "Exchange adapter calls by exchange, endpoint and outcome.",
            ["exchange", "endpoint", "outcome"],
            registry=r,
        )

        # Notifications
        self.notify_events = Counter(
            "notify_events_total",
            "Notification events by kind and outcome (stored, duplicate, disabled, lost).",
            ["kind", "outcome"],
            registry=r,
        )
        self.notify_deliveries = Counter(
            "notify_deliveries_total",
            "Notification deliveries by channel and outcome (delivered, retried, failed, dropped, held, summarised).",
            ["channel", "outcome"],
            registry=r,
        )
        self.notify_outbox_pending = Gauge(
            "notify_outbox_pending",
            "Deliveries waiting in the outbox (pending or held back).",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.telegram_commands = Counter(
            "telegram_commands_total",
            "Telegram remote-control commands by command and outcome.",
            ["command", "outcome"],
            registry=r,
        )
        self.telegram_ignored = Counter(
            "telegram_updates_ignored_total",
            "Telegram updates ignored, by reason (foreign_chat, not_a_command, unknown_command, too_old).",
            ["reason"],
            registry=r,
        )

    @staticmethod
    def process_exit() -> None:
        """Drop this worker's live gauges from the shared files (multiprocess mode only)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            mark_process_dead(os.getpid())

    def exposition(self) -> tuple[bytes, str]:
        """Body and content type for /metrics."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = self.registry
        return generate_latest(registry), CONTENT_TYPE_LATEST


__all__ = ["Metrics"]
