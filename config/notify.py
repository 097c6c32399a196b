"""Notification settings: channel URLs, enabled events, delivery pacing, daily summary, Telegram control."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from config.base import CsvList, Section, resolve_backend_path

# Every event kind the service emits (backend/notify/events.py gives each its severity).
EVENT_KINDS = (
    "kill_switch.on",
    "kill_switch.off",
    "order.rejected",
    "order.unknown",
    "order.resolved_late",
    "job.failed",
    "job.degraded",
    "job.recovered",
    "health.degraded",
    "health.recovered",
    "model.trained",
    "model.activated",
    "model.refused",
    "model.stale",
    "model.rolled_back",
    "service.started",
    "service.stopped",
    "summary.daily",
    "notify.held",
    "test",
)

# The kinds an operator hears about unless QT_NOTIFY_EVENTS says otherwise: every one (each is a
# transition or a rare fact, and the rate limit sums up bursts); see docs/notifications.md.
DEFAULT_EVENTS = ["all"]


class NotifySettings(Section):
    urls: SecretStr = Field(
        SecretStr(""),
        alias="QT_NOTIFY_URLS",
        description="Comma-separated channel URLs (apprise conventions: json://, jsons://, slack://, "
        "discord://, tgram://, mailto://, mailtos://); blank: no notifications (secret).",
    )
    events: CsvList = Field(
        default_factory=lambda: list(DEFAULT_EVENTS),
        alias="QT_NOTIFY_EVENTS",
        description="Comma-separated event kinds to send (a trailing .* takes a family, all = every kind).",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        alias="QT_NOTIFY_WEBHOOK_SECRET",
        description="Key of the X-QT-Signature HMAC-SHA256 header on json:// and jsons:// webhooks (secret).",
    )
    ca_file: Path | None = Field(
        None,
        alias="QT_NOTIFY_CA_FILE",
        description="CA bundle trusted by jsons:// webhooks besides the system's (self-hosted receivers).",
    )
    poll_seconds: float = Field(
        2.0, alias="QT_NOTIFY_POLL_SECONDS", gt=0, le=3600, description="How often the sender looks at the outbox."
    )
    max_attempts: int = Field(
        6, alias="QT_NOTIFY_MAX_ATTEMPTS", ge=1, le=100, description="Attempts per channel before a message is failed."
    )
    retry_seconds: float = Field(
        10.0,
        alias="QT_NOTIFY_RETRY_SECONDS",
        gt=0,
        le=86_400,
        description="First retry delay; doubled after each failed attempt (capped at one hour).",
    )
    timeout_seconds: float = Field(
        10.0, alias="QT_NOTIFY_TIMEOUT_SECONDS", gt=0, le=300, description="Timeout of one delivery attempt."
    )
    rate_per_minute: int = Field(
        20,
        alias="QT_NOTIFY_RATE_PER_MINUTE",
        ge=1,
        le=10_000,
        description="Messages per channel per minute; the rest is held back and summed up in one line.",
    )
    max_age_seconds: int = Field(
        86_400,
        alias="QT_NOTIFY_MAX_AGE_SECONDS",
        ge=60,
        le=2_592_000,
        description="A message still undelivered after this long is dropped (counted, never sent late).",
    )
    summary_hour: int | None = Field(
        None,
        alias="QT_NOTIFY_SUMMARY_HOUR",
        ge=0,
        le=23,
        description="UTC hour of the daily summary (equity, day PnL, drawdown, orders, fees); blank: none.",
    )
    slack_webhook_base: str = Field(
        "https://hooks.slack.com/services",
        alias="QT_NOTIFY_SLACK_BASE_URL",
        description="Base URL of slack:// webhooks (a Slack-compatible server or a proxy).",
    )
    discord_webhook_base: str = Field(
        "https://discord.com/api/webhooks",
        alias="QT_NOTIFY_DISCORD_BASE_URL",
        description="Base URL of discord:// webhooks (a Discord-compatible server or a proxy).",
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org",
        alias="QT_TELEGRAM_API_URL",
        description="Telegram Bot API base URL, for tgram:// messages and the remote control.",
    )
    telegram_bot_token: SecretStr | None = Field(
        None,
        alias="QT_TELEGRAM_BOT_TOKEN",
        description="Bot token of the Telegram remote control; blank: no remote control (secret).",
    )
    telegram_allowed_chats: CsvList = Field(
        default_factory=list,
        alias="QT_TELEGRAM_ALLOWED_CHATS",
        description="Comma-separated chat ids whose commands are obeyed; every other chat is ignored.",
    )
    telegram_poll_seconds: int = Field(
        25, alias="QT_TELEGRAM_POLL_SECONDS", ge=0, le=50, description="Long-poll timeout of getUpdates."
    )
    telegram_confirm_seconds: int = Field(
        120,
        alias="QT_TELEGRAM_CONFIRM_SECONDS",
        ge=10,
        le=3600,
        description="How long a /resume waits for its confirmation reply.",
    )

    @field_validator("events", mode="after")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        families = {kind.split(".")[0] for kind in EVENT_KINDS}
        bad = [
            item
            for item in value
            if item != "all" and item not in EVENT_KINDS and not (item.endswith(".*") and item[:-2] in families)
        ]
        if bad:
            raise ValueError(f"unknown event kinds {', '.join(bad)}; accepted: all, {', '.join(EVENT_KINDS)}, family.*")
        return value

    def wants(self, kind: str) -> bool:
        """Whether QT_NOTIFY_EVENTS enables this kind (the test message and held-back summaries always go)."""
        chosen = self.events
        return (
            kind in ("test", "notify.held") or "all" in chosen or kind in chosen or f"{kind.split('.')[0]}.*" in chosen
        )

    @field_validator("ca_file", mode="after")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        return None if value is None else resolve_backend_path(value)

    @field_validator("telegram_allowed_chats", mode="after")
    @classmethod
    def _chats(cls, value: list[str]) -> list[str]:
        bad = [item for item in value if not item.lstrip("-").isdigit()]
        if bad:
            raise ValueError(f"chat ids are integers (got {', '.join(bad)})")
        return value

    @field_validator("slack_webhook_base", "discord_webhook_base", "telegram_api_url", mode="after")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def channel_urls(self) -> list[str]:
        return [item.strip() for item in self.urls.get_secret_value().split(",") if item.strip()]

    @property
    def remote_control(self) -> bool:
        return self.telegram_bot_token is not None and bool(self.telegram_allowed_chats)
