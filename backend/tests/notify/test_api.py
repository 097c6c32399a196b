"""The notification endpoints and the outbox across a restart, through the real app and its lifespan."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from backend.tests.fakes.notify_receivers import receiver


def _notify(url: str, **extra: Any) -> dict[str, Any]:
    return {"notify": {"QT_NOTIFY_URLS": url, "QT_NOTIFY_RETRY_SECONDS": 0.05, "QT_NOTIFY_POLL_SECONDS": 0.05, **extra}}


def settings_url(make_settings: SettingsFactory) -> str:
    return make_settings().database.effective_url


def _undelivered(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT e.dedup_key FROM notification_events e JOIN notification_deliveries d"
                    " ON d.event_id = e.id WHERE d.state = 'pending'"
                )
            ).all()
    finally:
        engine.dispose()
    return {row[0] for row in rows}


def test_a_restart_between_enqueue_and_delivery_loses_nothing(
    make_settings: SettingsFactory, client_for: Callable[..., Any]
) -> None:
    with receiver() as rec:
        url = f"json://{rec.url.removeprefix('http://')}/hook"
        rec.status = 503  # the channel is down during the first run
        first = client_for(make_settings(**_notify(url)))
        test = first.post("/notifications/test", headers=ADMIN_HEADERS)
        assert test.status_code == 202, test.text
        first.__exit__(None, None, None)
        queued = _undelivered(settings_url(make_settings))
        assert sorted(key.split(":")[0] for key in queued) == ["service.started", "service.stopped", "test"]
        rec.status = 200
        rec.requests.clear()
        second = client_for(make_settings(**_notify(url)))
        delivered = second.get("/notifications", headers=ADMIN_HEADERS).json()
        rec.wait(4)
        keys = [r.json()["dedup_key"] for r in rec.requests]
    # the first run's started, test and stopped messages all arrive, each once, then the second start
    assert set(keys) >= queued
    assert len(keys) == len(set(keys))
    kinds = [r.json()["kind"] for r in rec.requests]
    assert sorted(kinds) == ["service.started", "service.started", "service.stopped", "test"]
    assert {c["id"] for c in delivered["channels"]} == {"webhook-1"}


def test_get_notifications_shows_each_delivery_state_and_needs_the_token(
    make_settings: SettingsFactory, client_for: Callable[..., Any]
) -> None:
    with receiver() as rec:
        client = client_for(make_settings(**_notify(f"json://{rec.url.removeprefix('http://')}/")))
        assert client.get("/notifications").status_code == 401
        client.post("/notifications/test", headers=ADMIN_HEADERS)
        rec.wait(2)
        for _ in range(100):
            body = client.get("/notifications", headers=ADMIN_HEADERS, params={"kind": "test"}).json()
            if body["notifications"][0]["deliveries"][0]["state"] == "delivered":
                break
            rec.arrived.wait(0.05)
    (item,) = body["notifications"]
    assert item["kind"] == "test"
    assert item["deliveries"][0]["state"] == "delivered"
    assert item["deliveries"][0]["channel"] == "webhook-1"
    assert body["channels"] == [
        {"id": "webhook-1", "kind": "webhook", "label": f"webhook@{rec.url.removeprefix('http://')}"}
    ]
    assert client.get("/notifications", headers=ADMIN_HEADERS, params={"state": "nonsense"}).status_code == 422


def test_the_test_message_is_audited_and_no_answer_log_or_audit_line_holds_a_secret(
    make_settings: SettingsFactory, client_for: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "hmac-key-that-must-stay-hidden-42"
    with receiver() as rec:
        host = rec.url.removeprefix("http://")
        settings = make_settings(
            **_notify(
                f"json://hookuser:pathpassword123@{host}/token-in-path-0123456789abcdef",
                QT_NOTIFY_WEBHOOK_SECRET=secret,
            )
        )
        client = client_for(settings)
        answer = client.post("/notifications/test", headers=ADMIN_HEADERS)
        rec.wait(2)
        listing = client.get("/notifications", headers=ADMIN_HEADERS)
        config = client.get("/settings", headers=ADMIN_HEADERS)
    audit = settings.app.admin_audit_path.read_text()
    entries = [json.loads(line) for line in audit.splitlines()]
    assert any(e["action"] == "POST /notifications/test" and e["outcome"] == "ok" for e in entries)
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert f"POST http://{host}/***" in logged  # httpx logged the request, its secret path redacted
    for shown in (answer.text, listing.text, config.text, audit, logged, *(r.body.decode() for r in rec.requests)):
        for hidden in (secret, "pathpassword123", "token-in-path-0123456789abcdef"):
            assert hidden not in shown
    assert rec.requests[0].headers["authorization"].startswith("Basic ")


def test_two_replicas_one_sender_and_the_metrics_count_it(
    make_settings: SettingsFactory, client_for: Callable[..., Any], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database (the leader lock is an advisory lock)")
    with receiver() as rec:
        url = f"json://{rec.url.removeprefix('http://')}/"
        first = client_for(make_settings(**_notify(url)))
        second = client_for(make_settings(**_notify(url)))
        rec.wait(2)  # both replicas' "service started"
        roles = sorted(c.app.state.ctx.runner.role for c in (first, second))
        assert roles == ["follower", "leader"]
        follower = first if first.app.state.ctx.runner.role == "follower" else second
        assert follower.post("/notifications/test", headers=ADMIN_HEADERS).status_code == 202
        rec.wait(3)
        for _ in range(40):  # a second sender would deliver the same rows again within a few passes
            rec.arrived.wait(0.05)
        keys = [r.json()["dedup_key"] for r in rec.requests]
        leader = second if follower is first else first
        for _ in range(100):  # the sender marks a delivery just after the receiver answered
            metrics = [
                line for line in leader.get("/metrics").text.splitlines() if line.startswith("notify_deliveries_total")
            ]
            if metrics and metrics[0].endswith(" 3.0"):
                break
            rec.arrived.wait(0.05)
    assert len(keys) == len(set(keys)) == 3
    assert metrics == ['notify_deliveries_total{channel="webhook-1",outcome="delivered"} 3.0']


def test_a_test_message_with_no_channel_configured_is_refused_saying_what_to_set(
    make_settings: SettingsFactory, client_for: Callable[[Any], Any]
) -> None:
    # it answered 202 {"channels": []}: a test that went nowhere, with nothing telling what to set
    settings = make_settings()
    client = client_for(settings)
    answer = client.post("/notifications/test", headers=ADMIN_HEADERS)
    assert answer.status_code == 409, answer.text
    assert "set QT_NOTIFY_URLS" in answer.json()["detail"]
    entries = [json.loads(line) for line in settings.app.admin_audit_path.read_text().splitlines()]
    assert [e["outcome"] for e in entries if e["action"] == "POST /notifications/test"] == [
        "refused: no notification channel is configured: set QT_NOTIFY_URLS (Apprise URLs, comma-separated; "
        "docs/notifications.md) and restart"
    ]
