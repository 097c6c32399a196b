"""Each channel kind against a local server speaking its protocol: Slack, Discord, Telegram, SMTP (apprise)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from typing import Any

import pytest

from backend.notify.channels import build_channels, secrets_of
from backend.notify.events import Event
from backend.notify.redact import install, uninstall
from backend.tests.fakes.notify_receivers import Received, receiver, smtp_server
from backend.tests.notify.conftest import FakeClock, ServiceFactory
from config.notify import NotifySettings

SLACK = "T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"
DISCORD = "417429632418316298/JHZ7lQml277CDHmQKMHI8qBe7bk2ZwO5UKjCiOAF7711o33MyqU344Qpgv7YTpadV_js"
BOT = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def _event(clock: FakeClock) -> Event:
    return Event(
        kind="kill_switch.on", text="Kill switch ON: no orders are sent (drill).", dedup_key="ks:1", time=clock()
    )


def _deliver(make_service: ServiceFactory, clock: FakeClock, **values: Any) -> dict[str, int]:
    service = make_service(**values)
    service.emit_sync(_event(clock))
    return asyncio.run(service.sender.run_once())


def test_slack_compatible_webhook(make_service: ServiceFactory, clock: FakeClock) -> None:
    with receiver() as rec:
        rec.handler = lambda _r: (200, b"ok")  # what Slack's webhooks answer
        counts = _deliver(
            make_service, clock, QT_NOTIFY_URLS=f"slack://{SLACK}", QT_NOTIFY_SLACK_BASE_URL=f"{rec.url}/services"
        )
        (request,) = rec.requests
    assert counts == {"delivered": 1}
    assert request.path == f"/services/{SLACK}"
    assert "Kill switch ON" in json.dumps(request.json())


def test_discord_compatible_webhook(make_service: ServiceFactory, clock: FakeClock) -> None:
    with receiver() as rec:
        rec.handler = lambda _r: (204, b"")
        counts = _deliver(
            make_service,
            clock,
            QT_NOTIFY_URLS=f"discord://{DISCORD}",
            QT_NOTIFY_DISCORD_BASE_URL=f"{rec.url}/api/webhooks",
        )
        (request,) = rec.requests
    assert counts == {"delivered": 1}
    assert request.path == f"/api/webhooks/{DISCORD}"
    assert "Kill switch ON" in json.dumps(request.json())


def test_telegram_message_through_the_configured_bot_api(make_service: ServiceFactory, clock: FakeClock) -> None:
    def bot_api(request: Received) -> tuple[int, Any]:
        return 200, {"ok": True, "result": {"message_id": 1, "chat": {"id": 4242}, "date": 0}}

    with receiver() as rec:
        rec.handler = bot_api
        counts = _deliver(make_service, clock, QT_NOTIFY_URLS=f"tgram://{BOT}/4242", QT_TELEGRAM_API_URL=rec.url)
        (request,) = rec.requests
    assert counts == {"delivered": 1}
    assert request.path == f"/bot{BOT}/sendMessage"
    body = request.json()
    assert str(body["chat_id"]) == "4242"
    assert "Kill switch ON" in body["text"]


PLAIN_AUTH = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@PLAIN_AUTH
def test_email_over_smtp_with_a_login(make_service: ServiceFactory, clock: FakeClock) -> None:
    with smtp_server(login=("qt", "mail-password-1234")) as box:
        url = (
            f"mailto://qt:mail-password-1234@127.0.0.1:{box.port}?from=qt@example.com&to=ops@example.com&mode=insecure"
        )
        counts = _deliver(make_service, clock, QT_NOTIFY_URLS=url)
        (message,) = box.messages
    assert counts == {"delivered": 1}
    assert message["to"] == ["ops@example.com"]
    assert "Subject: [CRITICAL] kill_switch.on" in message["data"]
    assert "Kill switch ON" in message["data"]


@PLAIN_AUTH
def test_a_wrong_smtp_password_is_retried_and_never_logged(
    make_service: ServiceFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(login=("qt", "the-right-password")) as box:
        url = (
            f"mailto://qt:wrong-password-5678@127.0.0.1:{box.port}?from=qt@example.com&to=ops@example.com&mode=insecure"
        )
        settings = NotifySettings(_env_file=None, QT_NOTIFY_URLS=url)  # type: ignore[call-arg]
        scrubber = install(secrets_of(settings))
        try:
            counts = _deliver(make_service, clock, QT_NOTIFY_URLS=url)
        finally:
            uninstall(scrubber)
        assert box.messages == []
    assert counts == {"retried": 1}
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "wrong-password-5678" not in logged


def test_channel_ids_and_labels_show_no_secret() -> None:
    urls = [
        "json://u:pw-0123456789@127.0.0.1:9/hook",
        f"slack://{SLACK}",
        f"discord://{DISCORD}",
        f"tgram://{BOT}/4242",
        "mailto://qt:mailpw-0123@127.0.0.1:25?to=ops@example.com&from=qt@example.com&mode=insecure",
    ]
    settings = NotifySettings(_env_file=None, QT_NOTIFY_URLS=",".join(urls))  # type: ignore[call-arg]
    channels = build_channels(settings)
    assert [c.id for c in channels] == ["webhook-1", "slack-2", "discord-3", "telegram-4", "email-5"]
    shown = " ".join(f"{c.id} {c.label}" for c in channels)
    for secret in (
        "pw-0123456789",
        "TIiajkdnlazkcOXrIdevi7",
        "JHZ7lQml277CDHmQKMHI8qBe7bk2ZwO5UKjCiOAF7711o33MyqU344Qpgv7YTpadV_js",
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "mailpw-0123",
    ):
        assert secret not in shown
        assert any(secret in known for known in secrets_of(settings))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("json:///no-host", "entry 1: a webhook needs a host"),
        ("nosuchscheme://x/y", "entry 1: nosuchscheme:// is not a channel apprise can build"),
        ("127.0.0.1:8080/hook", "entry 1 has no scheme"),
    ],
)
def test_a_wrong_channel_url_is_refused_by_position_not_shown(url: str, message: str) -> None:
    settings = NotifySettings(_env_file=None, QT_NOTIFY_URLS=url)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=message) as caught:
        build_channels(settings)
    assert "/y" not in str(caught.value)
    assert "/hook" not in str(caught.value)


def test_the_check_command_refuses_a_wrong_channel_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "DATABASE_URL"))}
    env["QT_NOTIFY_URLS"] = "json://127.0.0.1:9/ok,nosuchscheme://secret-part/here"
    result = subprocess.run(
        [sys.executable, "-m", "backend", "--check"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2
    assert "configuration error: QT_NOTIFY_URLS entry 2: nosuchscheme:// is not a channel" in result.stderr
    assert "secret-part" not in result.stderr
