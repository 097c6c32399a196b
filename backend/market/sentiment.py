"""Market sentiment: none, simulated, or the Crypto Fear & Greed index over HTTP (httpx).

A provider that fails leaves the last value in place, with its age; nothing is ever invented.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import numpy as np

from backend.market.errors import MarketDataError, TemporaryMarketDataError
from backend.observability.metrics import Metrics


@dataclass(frozen=True, slots=True)
class SentimentReading:
    value: float  # 0 (extreme fear) .. 100 (extreme greed)
    label: str
    as_of: datetime
    source: str


def classify(value: float) -> str:
    """The index's own bands."""
    if value < 25:
        return "Extreme Fear"
    if value < 47:
        return "Fear"
    if value <= 54:
        return "Neutral"
    if value <= 75:
        return "Greed"
    return "Extreme Greed"


class SentimentProvider(Protocol):
    name: str

    def fetch(self) -> SentimentReading:
        """The latest reading; blocking; raises MarketDataError when unavailable."""
        ...

    def close(self) -> None: ...


class SimulatedSentiment:
    """A daily index from the seed: a slow cycle plus noise, deterministic per UTC day."""

    name = "simulated"

    def __init__(self, seed: int, clock: Callable[[], datetime]) -> None:
        self._seed = seed
        self._clock = clock

    def fetch(self) -> SentimentReading:
        now = self._clock()
        day = int(now.timestamp()) // 86_400
        noise = float(np.random.default_rng([self._seed, 0x5E47, day]).normal(0, 8))
        value = round(min(max(50 + 25 * math.sin(day / 23.0) + noise, 0.0), 100.0))
        as_of = datetime.fromtimestamp(day * 86_400, UTC)
        return SentimentReading(float(value), classify(value), as_of, self.name)

    def close(self) -> None:
        return None


class FearGreedProvider:
    """Reads ``{base_url}?limit=1`` (alternative.me's documented JSON) with httpx."""

    name = "fear_greed"

    def __init__(self, base_url: str, timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self._url = base_url
        self._client = httpx.Client(timeout=timeout, transport=transport)  # no request until fetch()

    def fetch(self) -> SentimentReading:
        try:
            response = self._client.get(self._url, params={"limit": 1, "format": "json"})
        except httpx.HTTPError as exc:
            raise TemporaryMarketDataError(f"fear & greed request failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise TemporaryMarketDataError(f"fear & greed answered HTTP {response.status_code}")
        try:
            payload: Any = response.json()
            item = payload["data"][0]
            value = float(item["value"])
            as_of = datetime.fromtimestamp(int(item["timestamp"]), UTC)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise MarketDataError(f"fear & greed payload not understood: {type(exc).__name__}: {exc}") from exc
        if not 0 <= value <= 100:
            raise MarketDataError(f"fear & greed value {value} outside 0..100")
        label = str(item.get("value_classification") or classify(value))
        return SentimentReading(value, label, as_of, self.name)

    def close(self) -> None:
        self._client.close()


# readings kept in SentimentService.history (a new one at most every refresh: days of them)
HISTORY_READINGS = 2000


class SentimentService:
    """Keeps the last good reading; a failed refresh reports the error and keeps the old value."""

    def __init__(self, provider: SentimentProvider, clock: Callable[[], datetime], metrics: Metrics | None = None):
        self.provider = provider
        self._clock = clock
        self._metrics = metrics
        self.last: SentimentReading | None = None
        self.last_error: str | None = None
        # (known at, value): each new reading stamped when this service first held it — its
        # publication, or the refresh that fetched it if that came later (never known before)
        self.history: deque[tuple[datetime, float]] = deque(maxlen=HISTORY_READINGS)

    async def refresh(self) -> tuple[dict[str, Any] | None, str | None]:
        try:
            reading = await asyncio.to_thread(self.provider.fetch)
            if self.last is None or (reading.as_of, reading.value) != (self.last.as_of, self.last.value):
                self.history.append((max(reading.as_of, self._clock()), reading.value))
            self.last = reading
            self.last_error = None
        except Exception as exc:
            self.last_error = str(exc) if isinstance(exc, MarketDataError) else f"{type(exc).__name__}: {exc}"
        return self.current(), self.last_error

    def current(self) -> dict[str, Any] | None:
        """The last reading with its age (None before the first success)."""
        if self.last is None:
            return None
        age = max((self._clock() - self.last.as_of).total_seconds(), 0.0)
        if self._metrics is not None:
            self._metrics.sentiment_age.set(age)
        return {
            "value": self.last.value,
            "label": self.last.label,
            "as_of": self.last.as_of.isoformat(),
            "age_seconds": round(age, 3),
            "source": self.last.source,
        }

    def close(self) -> None:
        self.provider.close()
