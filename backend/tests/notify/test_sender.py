"""The outbox and the sender: signed webhook, dedup, retries then failure, rate limit, leader only."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import timedelta

import trustme

from backend.notify.channels import SIGNATURE_HEADER
from backend.notify.events import Event
from backend.notify.outbox import DELIVERED, DROPPED, FAILED, HELD, PENDING, SUMMARISED, backoff
from backend.tests.fakes.notify_receivers import receiver
from backend.tests.notify.conftest import FakeClock, ServiceFactory, counter

SECRET = "webhook-secret-for-tests-0123456789"


def _event(clock: FakeClock, n: int = 1, kind: str = "order.rejected") -> Event:
    return Event(
        kind=kind, text=f"order {n} rejected: -2010 insufficient balance", dedup_key=f"{kind}:{n}", time=clock()
    )


def _states(service: object) -> list[str]:
    rows = service.outbox.recent(limit=100)  # type: ignore[attr-defined]
    return [d["state"] for row in reversed(rows) for d in row["deliveries"]]


def test_webhook_body_is_signed_and_the_receiver_verifies_it(make_service: ServiceFactory, clock: FakeClock) -> None:
    with receiver() as rec:
        service = make_service(
            QT_NOTIFY_URLS=f"json://{rec.url.removeprefix('http://')}/hook", QT_NOTIFY_WEBHOOK_SECRET=SECRET
        )
        assert service.emit_sync(_event(clock))
        counts = asyncio.run(service.sender.run_once())
        (request,) = rec.requests
    assert counts == {"delivered": 1}
    assert request.path == "/hook"
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER.lower()], expected)
    body = json.loads(request.body)
    assert body["kind"] == "order.rejected"
    assert body["severity"] == "warning"
    assert body["time"] == clock().isoformat()
    assert "insufficient balance" in body["text"]
    assert SECRET not in request.body.decode()
    assert _states(service) == [DELIVERED]
    assert counter(service.metrics, "notify_deliveries_total", channel="webhook-1", outcome="delivered") == 1  # type: ignore[attr-defined]


def test_a_tampered_body_fails_the_signature_check(make_service: ServiceFactory, clock: FakeClock) -> None:
    with receiver() as rec:
        service = make_service(
            QT_NOTIFY_URLS=f"json://{rec.url.removeprefix('http://')}/hook", QT_NOTIFY_WEBHOOK_SECRET=SECRET
        )
        service.emit_sync(_event(clock))
        asyncio.run(service.sender.run_once())
        (request,) = rec.requests
    tampered = request.body.replace(b"rejected", b"accepted")
    forged = "sha256=" + hmac.new(SECRET.encode(), tampered, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER.lower()] != forged


def test_the_same_dedup_key_is_sent_once(make_service: ServiceFactory, clock: FakeClock) -> None:
    with receiver() as rec:
        service = make_service(QT_NOTIFY_URLS=f"json://{rec.url.removeprefix('http://')}/")
        assert service.emit_sync(_event(clock))
        assert not service.emit_sync(_event(clock))
        asyncio.run(service.sender.run_once())
        asyncio.run(service.sender.run_once())
        assert len(rec.requests) == 1
    assert counter(service.metrics, "notify_events_total", kind="order.rejected", outcome="duplicate") == 1  # type: ignore[attr-defined]


def test_a_channel_that_is_down_is_retried_with_backoff_then_counted_failed(
    make_service: ServiceFactory, clock: FakeClock
) -> None:
    with receiver() as rec:
        rec.status = 503
        service = make_service(
            QT_NOTIFY_URLS=f"json://{rec.url.removeprefix('http://')}/",
            QT_NOTIFY_MAX_ATTEMPTS=3,
            QT_NOTIFY_RETRY_SECONDS=10,
        )
        service.emit_sync(_event(clock, 1))
        service.emit_sync(_event(clock, 2))
        assert asyncio.run(service.sender.run_once()) == {"retried": 1}  # the second waits: the channel is down
        assert len(rec.requests) == 1
        assert asyncio.run(service.sender.run_once()) == {}  # the channel rests until the retry time
        clock.advance(10)
        assert asyncio.run(service.sender.run_once()) == {"retried": 1}
        clock.advance(19)
        assert asyncio.run(service.sender.run_once()) == {}  # the second delay is 20 s
        clock.advance(1)
        assert asyncio.run(service.sender.run_once()) == {"failed": 1}
        assert len(rec.requests) == 3
        rec.status = 200
        assert asyncio.run(service.sender.run_once()) == {"delivered": 1}  # the second one, once it is back
        rows = service.outbox.recent(limit=10)
    first = next(row for row in rows if row["dedup_key"] == "order.rejected:1")
    assert first["deliveries"][0]["state"] == FAILED
    assert first["deliveries"][0]["attempts"] == 3
    assert "HTTP 503" in first["deliveries"][0]["last_error"]
    assert counter(service.metrics, "notify_deliveries_total", channel="webhook-1", outcome="failed") == 1  # type: ignore[attr-defined]
    assert counter(service.metrics, "notify_deliveries_total", channel="webhook-1", outcome="retried") == 2  # type: ignore[attr-defined]


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n, 10).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff(30, 10) == timedelta(hours=1)


def test_the_rate_limit_holds_back_and_then_says_what_it_held(make_service: ServiceFactory, clock: FakeClock) -> None:
    with receiver() as rec:
        service = make_service(QT_NOTIFY_URLS=f"json://{rec.url.removeprefix('http://')}/", QT_NOTIFY_RATE_PER_MINUTE=2)
        for n in range(5):
            service.emit_sync(_event(clock, n, kind="order.rejected" if n < 4 else "job.failed"))
        service.emit_sync(Event(kind="kill_switch.on", text="kill switch on", dedup_key="ks", time=clock()))
        counts = asyncio.run(service.sender.run_once())
        assert counts == {"delivered": 3, "held": 3}  # the critical kill switch goes over the limit
        assert asyncio.run(service.sender.run_once()) == {}  # still within the minute
        clock.advance(61)
        assert asyncio.run(service.sender.run_once()) == {"summarised": 3}
        kinds = [r.json()["kind"] for r in rec.requests]
        summary = rec.requests[-1].json()
    assert kinds == ["order.rejected", "order.rejected", "kill_switch.on", "notify.held"]
    assert summary["text"].startswith("3 notifications were held back")
    assert "1 job.failed, 2 order.rejected" in summary["text"]
    assert sorted(_states(service)) == sorted([DELIVERED] * 3 + [SUMMARISED] * 3)
    assert HELD not in _states(service)


def test_a_follower_replica_sends_nothing(make_service: ServiceFactory, clock: FakeClock) -> None:
    async def follower() -> bool:
        return False

    with receiver() as rec:
        service = make_service(leader=follower, QT_NOTIFY_URLS=f"json://{rec.url.removeprefix('http://')}/")
        service.emit_sync(_event(clock))
        assert asyncio.run(service.sender.run_once()) == {}
        assert rec.requests == []
    assert _states(service) == [PENDING]


def test_old_messages_and_removed_channels_are_dropped_not_sent(make_service: ServiceFactory, clock: FakeClock) -> None:
    with receiver() as rec:
        url = f"json://{rec.url.removeprefix('http://')}/"
        service = make_service(QT_NOTIFY_URLS=url, QT_NOTIFY_MAX_AGE_SECONDS=600)
        service.emit_sync(_event(clock, 1))
        clock.advance(601)
        service.emit_sync(_event(clock, 2))
        assert asyncio.run(service.sender.run_once()) == {"dropped": 1, "delivered": 1}
        service.emit_sync(_event(clock, 3))
        nothing = make_service(QT_NOTIFY_URLS="")
        assert asyncio.run(nothing.sender.run_once()) == {"dropped": 1}
        assert [r.json()["dedup_key"] for r in rec.requests] == ["order.rejected:2"]
    assert sorted(_states(service)) == [DELIVERED, DROPPED, DROPPED]


def test_jsons_webhook_over_tls_trusts_the_configured_ca(
    make_service: ServiceFactory, clock: FakeClock, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with receiver(ca=ca) as rec:
        host = rec.url.removeprefix("https://")
        untrusted = make_service(QT_NOTIFY_URLS=f"jsons://{host}/tls")
        untrusted.emit_sync(_event(clock, 1))
        assert asyncio.run(untrusted.sender.run_once()) == {"retried": 1}
        assert "ConnectError" in untrusted.outbox.recent(limit=1)[0]["deliveries"][0]["last_error"]
        trusted = make_service(
            QT_NOTIFY_URLS=f"jsons://{host}/tls", QT_NOTIFY_CA_FILE=str(ca_file), QT_NOTIFY_WEBHOOK_SECRET=SECRET
        )
        trusted.emit_sync(_event(clock, 2))
        clock.advance(3600)
        assert asyncio.run(trusted.sender.run_once()) == {"delivered": 2}
        paths = {r.path for r in rec.requests}
    assert paths == {"/tls"}


def test_events_emitted_while_and_after_the_writer_stops_are_kept(
    make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service()
    service.notifier.start()
    service.emit(_event(clock, 1))
    assert service.notifier.flush(timeout=10)
    service.notifier.close()
    service.emit(_event(clock, 2))  # a late emit is written in the caller's thread, not queued behind the stop
    assert service.notifier.flush(timeout=0.1)  # nothing left to wait for: it returns at once
    assert [row["dedup_key"] for row in service.outbox.recent(limit=5)] == ["order.rejected:2", "order.rejected:1"]
