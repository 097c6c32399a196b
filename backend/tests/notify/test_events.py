"""Events from the services that own the facts: kill switch, orders, jobs, /health, the daily summary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from backend.notify.hooks import HealthEvents, JobEvents, OrderEvents
from backend.notify.summary import DailySummary
from backend.scheduler.runner import JobRun, JobSpec, RunStatus
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from backend.tests.fakes.notify_receivers import Received, receiver
from backend.tests.notify.conftest import FakeClock, ServiceFactory, counter
from database.models.execution import ExecutionRun, FillRecord, Order


def _kinds(service: Any) -> list[str]:
    return [row["kind"] for row in reversed(service.outbox.recent(limit=100))]


def _app(url: str, **extra: Any) -> dict[str, Any]:
    return {"notify": {"QT_NOTIFY_URLS": url, "QT_NOTIFY_POLL_SECONDS": 0.05, **extra}}


def _wait_for(rec: Any, kind: str, timeout: float = 10.0) -> Received:
    for _ in range(int(timeout / 0.05)):
        for item in list(rec.requests):
            if item.json()["kind"] == kind:
                return item
        time.sleep(0.05)
    raise AssertionError(f"no {kind} notification; got {[r.json()['kind'] for r in rec.requests]}")


def test_kill_switch_on_and_off_are_notified_with_reason_and_actor(
    make_settings: SettingsFactory, client_for: Callable[..., Any]
) -> None:
    with receiver() as rec:
        client = client_for(make_settings(**_app(f"json://{rec.url.removeprefix('http://')}/")))
        on = client.post(
            "/risk/kill-switch", headers=ADMIN_HEADERS, json={"enabled": True, "reason": "exchange maintenance"}
        )
        assert on.status_code == 200, on.text
        message = _wait_for(rec, "kill_switch.on").json()
        client.post("/risk/kill-switch", headers=ADMIN_HEADERS, json={"enabled": False, "reason": "maintenance over"})
        off = _wait_for(rec, "kill_switch.off").json()
    assert message["severity"] == "critical"
    assert "exchange maintenance" in message["text"]
    assert "manually" in message["text"]
    assert message["data"]["actor"]  # the token's fingerprint, never the token
    assert "test-admin-token" not in message["text"]
    assert off["data"]["reason"] == "maintenance over"


def test_the_automatic_halt_is_notified_as_automatic(
    make_settings: SettingsFactory, client_for: Callable[..., Any]
) -> None:
    with receiver() as rec:
        settings = make_settings(
            **_app(f"json://{rec.url.removeprefix('http://')}/"), risk={"QT_RISK_HALT_AFTER_FAILURES": 2}
        )
        client = client_for(settings)
        guard = client.app.state.ctx.services["risk_guard"]
        for _ in range(2):
            guard.note_exchange_failure_sync(TimeoutError("exchange timed out"))
        message = _wait_for(rec, "kill_switch.on").json()
    assert message["data"]["automatic"] is True
    assert "automatically" in message["text"]


def test_a_channel_that_hangs_does_not_touch_trading(
    make_settings: SettingsFactory, client_for: Callable[..., Any]
) -> None:
    def hang(_request: Received) -> tuple[int, Any]:
        time.sleep(3)
        return 200, {}

    with receiver() as rec:
        rec.handler = hang
        settings = make_settings(**_app(f"json://{rec.url.removeprefix('http://')}/", QT_NOTIFY_TIMEOUT_SECONDS=1))
        client = client_for(settings)
        rec.arrived.wait(5)  # the sender is now stuck on the channel
        run = client.post("/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS)
        assert run.status_code == 200, run.text
        assert run.json()["run"]["status"] == "ok", run.json()
        assert client.get("/portfolio", headers=ADMIN_HEADERS).status_code == 200
        switched = client.post("/risk/kill-switch", headers=ADMIN_HEADERS, json={"enabled": True, "reason": "drill"})
        assert switched.status_code == 200
        assert client.get("/risk", headers=ADMIN_HEADERS).json()["kill_switch"]["enabled"] is True
        notify = client.app.state.ctx.services["notify"]
        notify.notifier.flush()
        rows = notify.outbox.recent(limit=20)
    states = {row["kind"]: row["deliveries"][0] for row in rows}
    assert states["service.started"]["state"] == "pending"  # timed out, waiting for its retry
    assert "ReadTimeout" in states["service.started"]["last_error"]
    assert states["kill_switch.on"]["state"] == "pending"  # stored, sent once the channel answers


def test_order_events_rejected_unknown_and_resolved_late_even_after_a_restart(
    make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service()
    events = OrderEvents(service.notifier)
    events(clock(), "order_planned", {"client_order_id": "c1-BTCUSDT-BUY", "symbol": "BTCUSDT"})
    events(
        clock(),
        "order_rejected",
        {"client_order_id": "c1-ETHUSDT-BUY", "code": -2010, "message": "insufficient balance"},
    )
    events(clock(), "order_unknown", {"client_order_id": "c1-BTCUSDT-BUY", "symbol": "BTCUSDT", "message": "timeout"})
    events(clock(), "order_filled", {"client_order_id": "c1-SOLUSDT-SELL", "symbol": "SOLUSDT"})  # never unknown
    restarted = OrderEvents(make_service().notifier)  # a new process: only the outbox remembers
    restarted(clock(), "order_filled", {"client_order_id": "c1-BTCUSDT-BUY", "symbol": "BTCUSDT"})
    rows = {row["kind"]: row for row in service.outbox.recent(limit=10)}
    assert _kinds(service) == ["order.rejected", "order.unknown", "order.resolved_late"]
    assert "-2010 insufficient balance" in rows["order.rejected"]["text"]
    assert "filled" in rows["order.resolved_late"]["text"]


def test_order_events_from_the_execution_trades_log_reach_the_outbox(
    make_settings: SettingsFactory, client_for: Callable[..., Any]
) -> None:
    client = client_for(make_settings())
    ctx = client.app.state.ctx
    trades_log = ctx.services["execution"]._log
    trades_log.write(
        ctx.clock(), "order_rejected", client_order_id="c9-BTCUSDT-BUY", code=-1013, message="Filter failure"
    )
    ctx.services["notify"].notifier.flush()
    assert "order.rejected" in _kinds(ctx.services["notify"])


def _run(status: RunStatus, at: datetime, error: str | None = None) -> JobRun:
    return JobRun(started_at=at, finished_at=at, duration_seconds=0.1, status=status, manual=False, error=error)


def test_job_events_are_transitions_not_states(make_service: ServiceFactory, clock: FakeClock) -> None:
    service = make_service()
    jobs = JobEvents(service.notifier)
    for n, status in enumerate(
        [
            RunStatus.OK,
            RunStatus.FAILED,
            RunStatus.FAILED,
            RunStatus.FOLLOWER,
            RunStatus.DEGRADED,
            RunStatus.OK,
            RunStatus.OK,
        ]
    ):
        jobs(
            "market", _run(status, clock() + timedelta(minutes=n), error="boom" if status is RunStatus.FAILED else None)
        )
    assert _kinds(service) == ["job.failed", "job.degraded", "job.recovered"]


def test_a_failing_job_is_notified_through_the_runner(
    make_settings: SettingsFactory, client_for: Callable[..., Any]
) -> None:
    async def boom() -> None:
        raise RuntimeError("source down")

    client = client_for(make_settings())
    ctx = client.app.state.ctx
    ctx.runner.add(JobSpec("boom", boom, "always fails", seconds=lambda _s: 0))
    assert client.post("/scheduler/jobs/boom/run", headers=ADMIN_HEADERS).json()["run"]["status"] == "failed"
    ctx.services["notify"].notifier.flush()
    (row,) = ctx.services["notify"].outbox.recent(limit=5, kind="job.failed")
    assert "RuntimeError: source down" in row["text"]


def test_health_degraded_and_recovered_on_transitions(make_service: ServiceFactory, clock: FakeClock) -> None:
    service = make_service()
    bodies = iter(
        [
            {"status": "ok", "reasons": []},
            {"status": "degraded", "reasons": ["audit: cannot write the audit log"]},
            {"status": "degraded", "reasons": ["audit: cannot write the audit log"]},
            {"status": "degraded", "reasons": ["job market: failed"]},  # the job events tell that
            {"status": "ok", "reasons": []},
        ]
    )
    watcher = HealthEvents(service.notifier, lambda: next(bodies), clock)
    for _ in range(5):
        watcher.check()
        clock.advance(5)
    assert _kinds(service) == ["health.degraded", "health.recovered"]


def _ledger_day(sessions: Any, day: datetime) -> None:
    with sessions.begin() as session:
        for hours, equity in ((-20, "10000"), (-12, "10400"), (-2, "10140")):
            session.add(
                ExecutionRun(
                    kind="cycle",
                    exchange="paper",
                    status="ok",
                    started_at=day + timedelta(hours=hours),
                    equity=Decimal(equity),
                    orders_planned=0,
                    orders_submitted=0,
                    orders_skipped=0,
                    orders_failed=0,
                )
            )
        for n, status in enumerate(["FILLED", "FILLED", "REJECTED"]):
            session.add(
                Order(
                    exchange="paper",
                    client_order_id=f"c{n}",
                    symbol="BTCUSDT",
                    side="BUY",
                    order_type="MARKET",
                    requested_quantity=Decimal(1),
                    executed_quantity=Decimal(1),
                    quote_quantity=Decimal(1),
                    status=status,
                    created_at=day - timedelta(hours=3),
                    updated_at=day,
                )
            )
        for n, (pnl, fee) in enumerate((("12.50", "1.25"), ("-2.50", "0.75"))):
            session.add(
                FillRecord(
                    exchange="paper",
                    trade_id=f"t{n}",
                    client_order_id="c0",
                    symbol="BTCUSDT",
                    side="SELL",
                    price=Decimal(1),
                    quantity=Decimal(1),
                    fee=Decimal(fee),
                    fee_asset="USDT",
                    fee_quote=Decimal(fee),
                    realised_pnl=Decimal(pnl),
                    time=day - timedelta(hours=1),
                    recorded_at=day,
                )
            )


def test_the_daily_summary_comes_once_at_the_configured_hour(make_service: ServiceFactory, clock: FakeClock) -> None:
    service = make_service(QT_NOTIFY_SUMMARY_HOUR=13)
    sessions = service.outbox._sessions
    at = clock().replace(hour=13)
    _ledger_day(sessions, at)
    summary = DailySummary(service.notifier, sessions, service._settings, clock, lambda: "USDT")
    assert summary.check() is False  # 12:00, the hour has not come
    clock.advance(3600 + 120)
    assert summary.check() is True
    assert (
        DailySummary(service.notifier, sessions, service._settings, clock, lambda: "USDT").check() is False
    )  # once a day
    (row,) = service.outbox.recent(limit=5, kind="summary.daily")
    assert "equity 10,140.00 USDT" in row["text"]
    assert "PnL 10.00 USDT" in row["text"]
    assert "drawdown 2.50%" in row["text"]
    assert "orders 3 (2 filled, 1 rejected)" in row["text"]
    assert "fees 2.00 USDT" in row["text"]


def test_disabled_kinds_are_not_stored(make_service: ServiceFactory, clock: FakeClock) -> None:
    service = make_service(QT_NOTIFY_EVENTS="kill_switch.*,order.unknown")
    jobs = JobEvents(service.notifier)
    jobs("market", _run(RunStatus.FAILED, clock(), error="boom"))
    OrderEvents(service.notifier)(clock(), "order_unknown", {"client_order_id": "x"})
    assert _kinds(service) == ["order.unknown"]
    assert counter(service.metrics, "notify_events_total", kind="job.failed", outcome="disabled") == 1  # type: ignore[attr-defined]
    assert asyncio.run(service.sender.run_once()) == {}
