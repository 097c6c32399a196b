"""Request/response models of the notification endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ChannelView(BaseModel):
    id: str = Field(description="Channel id: kind and position in QT_NOTIFY_URLS (webhook-1, slack-2 ...).")
    kind: str
    label: str = Field(description="Kind and host only: a channel URL holds secrets and is never shown.")


class DeliveryView(BaseModel):
    channel: str
    state: str = Field(description="pending, delivered, failed, dropped, held or summarised.")
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None


class NotificationView(BaseModel):
    id: int
    kind: str
    severity: str
    time: datetime
    text: str
    dedup_key: str
    deliveries: list[DeliveryView]


class NotificationsResponse(BaseModel):
    channels: list[ChannelView]
    pending: int = Field(description="Deliveries waiting (pending or held back).")
    notifications: list[NotificationView]


class TestNotificationResponse(BaseModel):
    dedup_key: str
    channels: list[ChannelView] = Field(description="Every channel the test message was queued for.")
