"""Delivery channels built from QT_NOTIFY_URLS: webhooks by hand (signed JSON), the rest through apprise.

apprise knows Slack, Discord, Telegram and SMTP; it cannot sign a JSON body, so ``json://`` and
``jsons://`` are posted here with httpx. A channel's id (``webhook-1``, ``slack-2`` ...) and label
(kind and host) are what logs, metrics and answers show: never the URL, which holds secrets.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from backend.notify.events import Event, Severity
from config.notify import NotifySettings

SIGNATURE_HEADER = "X-QT-Signature"
KIND_HEADER = "X-QT-Event"

# apprise scheme -> our channel kind (anything else apprise knows is kind "apprise")
KINDS = {
    "json": "webhook",
    "jsons": "webhook",
    "slack": "slack",
    "discord": "discord",
    "tgram": "telegram",
    "mailto": "email",
    "mailtos": "email",
}


class ChannelError(Exception):
    """A delivery attempt failed; the message names the channel and the cause, never a secret."""


class Channel(Protocol):
    id: str
    kind: str
    label: str

    async def send(self, event: Event) -> None: ...


def sign(secret: str, body: bytes) -> str:
    """The X-QT-Signature value: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def title_of(event: Event) -> str:
    return f"[{event.level.value.upper()}] {event.kind}"


@dataclass
class WebhookChannel:
    """POSTs the event as JSON to http(s)://HOST[:PORT]/PATH, signed when a secret is set."""

    id: str
    label: str
    url: str
    secret: str | None
    timeout: float
    verify: ssl.SSLContext | bool = True
    auth: tuple[str, str] | None = None
    kind: str = "webhook"

    async def send(self, event: Event) -> None:
        body = json.dumps(event.payload(), separators=(",", ":"), default=str).encode("utf-8")
        headers = {"Content-Type": "application/json", KIND_HEADER: event.kind}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        try:
            async with httpx.AsyncClient(timeout=self.timeout, verify=self.verify, auth=self.auth) as client:
                response = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ChannelError(f"{self.label}: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise ChannelError(f"{self.label}: HTTP {response.status_code}")


_APPRISE_TYPES = {
    Severity.INFO: "info",
    Severity.WARNING: "warning",
    Severity.ERROR: "failure",
    Severity.CRITICAL: "failure",
}


@dataclass
class AppriseChannel:
    """One apprise plugin instance (its own object, so one channel's failure is its own)."""

    id: str
    kind: str
    label: str
    plugin: Any

    async def send(self, event: Event) -> None:
        ok = await asyncio.to_thread(
            self.plugin.notify, body=event.text, title=title_of(event), notify_type=_APPRISE_TYPES[event.level]
        )
        if not ok:
            raise ChannelError(f"{self.label}: not delivered (see the apprise log line before this)")


def _host_label(kind: str, host: str | None) -> str:
    return f"{kind}@{host}" if host else kind


def _webhook(
    index: int, url: str, settings: NotifySettings, secret: str | None, verify: ssl.SSLContext | bool
) -> WebhookChannel:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"QT_NOTIFY_URLS entry {index}: a webhook needs a host (json://HOST[:PORT]/PATH)")
    scheme = "https" if parts.scheme == "jsons" else "http"
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    target = f"{scheme}://{netloc}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
    auth = (parts.username, parts.password or "") if parts.username else None
    return WebhookChannel(
        id=f"webhook-{index}",
        label=_host_label("webhook", netloc),
        url=target,
        secret=secret,
        timeout=settings.timeout_seconds,
        verify=verify if scheme == "https" else True,
        auth=auth,
    )


def _apprise(index: int, url: str, settings: NotifySettings) -> AppriseChannel:
    import apprise  # imported here: building the plugin table costs time the tests that never notify should not pay

    plugin: Any = apprise.Apprise.instantiate(url)
    scheme = urlsplit(url).scheme.lower()
    if plugin is None:
        raise ValueError(
            f"QT_NOTIFY_URLS entry {index}: {scheme}:// is not a channel apprise can build "
            "(a part is wrong or missing; apprise logged which)"
        )
    kind = KINDS.get(scheme, "apprise")
    # apprise's own pacing would sleep inside a delivery; the sender's per-channel limit governs
    plugin.request_rate_per_sec = 0
    plugin.socket_connect_timeout = settings.timeout_seconds
    plugin.socket_read_timeout = settings.timeout_seconds
    host = getattr(plugin, "host", None)
    # point the services that have a fixed address at the configured one (compatible servers, proxies)
    if kind == "slack":
        plugin.webhook_url = settings.slack_webhook_base
        host = urlsplit(settings.slack_webhook_base).netloc
    elif kind == "discord":
        plugin.notify_url = settings.discord_webhook_base
        host = urlsplit(settings.discord_webhook_base).netloc
    elif kind == "telegram":
        plugin.notify_url = f"{settings.telegram_api_url}/bot"
        host = urlsplit(settings.telegram_api_url).netloc
    elif kind == "email":
        host = getattr(plugin, "smtp_host", None) or host
    return AppriseChannel(id=f"{kind}-{index}", kind=kind, label=_host_label(kind, host), plugin=plugin)


def build_channels(settings: NotifySettings) -> list[Channel]:
    """Every channel of QT_NOTIFY_URLS, in order; ValueError names the entry (by position) that is wrong."""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    verify: ssl.SSLContext | bool = True
    if settings.ca_file is not None:
        verify = ssl.create_default_context()
        verify.load_verify_locations(cafile=str(settings.ca_file))
    channels: list[Channel] = []
    for index, url in enumerate(settings.channel_urls, start=1):
        scheme = urlsplit(url).scheme.lower()
        if not scheme:
            raise ValueError(f"QT_NOTIFY_URLS entry {index} has no scheme (json://, slack://, tgram://, mailto:// ...)")
        if scheme in ("json", "jsons"):
            channels.append(_webhook(index, url, settings, secret, verify))
        else:
            channels.append(_apprise(index, url, settings))
    return channels


def secrets_of(settings: NotifySettings) -> list[str]:
    """Every secret string notifications know of, for the log redaction filter and the tests."""
    found: list[str] = []
    for url in settings.channel_urls:
        parts = urlsplit(url)
        userinfo, _, host = parts.netloc.rpartition("@")
        if ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
        pieces = parts.path.split("/")
        if parts.scheme.lower() not in ("json", "jsons"):
            # apprise keeps tokens in the host and path (slack://A/B/C, tgram://TOKEN/CHAT, discord://ID/TOKEN)
            found.extend(piece for piece in [host, host.split(":")[-1], *pieces] if len(piece) >= 8)
        found.extend(piece for piece in pieces if len(piece) >= 16)
    for secret in (settings.webhook_secret, settings.telegram_bot_token):
        if secret is not None and secret.get_secret_value():
            found.append(secret.get_secret_value())
    return sorted(set(found), key=len, reverse=True)


ChannelFactory = Callable[[NotifySettings], list[Channel]]
