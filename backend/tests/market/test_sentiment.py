"""Sentiment providers: simulated, and the Fear & Greed index over HTTP against a local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from backend.market.errors import MarketDataError, TemporaryMarketDataError
from backend.market.factory import build_sentiment
from backend.market.sentiment import FearGreedProvider, SentimentService, SimulatedSentiment, classify
from backend.tests.market.conftest import FrozenClock
from config.market import MarketSettings


class FearGreedServer:
    """Answers like api.alternative.me/fng/ with whatever the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body: Any = {
            "name": "Fear and Greed Index",
            "data": [
                {"value": "27", "value_classification": "Fear", "timestamp": "1764028800", "time_until_update": "3600"}
            ],
            "metadata": {"error": None},
        }
        self.queries: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                server.queries.append(self.path)
                data = (server.body if isinstance(server.body, str) else json.dumps(server.body)).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/fng/"


@pytest.fixture
def fng() -> Iterator[FearGreedServer]:
    server = FearGreedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_fear_greed_reads_the_latest_value(fng: FearGreedServer) -> None:
    provider = FearGreedProvider(fng.url, timeout=2)
    reading = provider.fetch()
    provider.close()
    assert reading.value == 27
    assert reading.label == "Fear"
    assert reading.as_of == datetime(2025, 11, 25, tzinfo=UTC)
    assert fng.queries[0].startswith("/fng/?limit=1")


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (503, {"error": "down"}, TemporaryMarketDataError, "HTTP 503"),
        (200, "not json", MarketDataError, "not understood"),
        (200, {"data": []}, MarketDataError, "not understood"),
        (200, {"data": [{"value": "140", "timestamp": "1"}]}, MarketDataError, "outside 0..100"),
    ],
)
def test_fear_greed_failures(fng: FearGreedServer, status: int, body: Any, error: type[Exception], match: str) -> None:
    fng.status, fng.body = status, body
    provider = FearGreedProvider(fng.url, timeout=2)
    with pytest.raises(error, match=match):
        provider.fetch()
    provider.close()


def test_unreachable_provider_is_temporary() -> None:
    provider = FearGreedProvider("http://127.0.0.1:9/fng/", timeout=1)
    with pytest.raises(TemporaryMarketDataError, match="request failed"):
        provider.fetch()
    provider.close()


async def test_a_failing_provider_keeps_the_last_value_with_its_age(fng: FearGreedServer) -> None:
    clock = FrozenClock(datetime(2025, 11, 25, 6, tzinfo=UTC))
    service = SentimentService(FearGreedProvider(fng.url, timeout=2), clock)
    value, error = await service.refresh()
    assert error is None
    assert value is not None
    assert value["age_seconds"] == 6 * 3600
    fng.status = 500
    clock.advance(hours=1)
    value, error = await service.refresh()
    assert error == "fear & greed answered HTTP 500"
    assert value is not None
    assert value["value"] == 27
    assert value["age_seconds"] == 7 * 3600
    service.close()


async def test_no_value_is_invented_before_the_first_success(fng: FearGreedServer) -> None:
    fng.status = 500
    service = SentimentService(FearGreedProvider(fng.url, timeout=2), FrozenClock())
    assert await service.refresh() == (None, "fear & greed answered HTTP 500")
    service.close()


def test_simulated_sentiment_is_deterministic_per_day_and_in_range() -> None:
    clock = FrozenClock()
    a = SimulatedSentiment(3, clock).fetch()
    clock.advance(hours=5)
    b = SimulatedSentiment(3, clock).fetch()
    assert a == b
    assert 0 <= a.value <= 100
    assert a.label == classify(a.value)
    clock.advance(days=40)
    assert SimulatedSentiment(3, clock).fetch().as_of > a.as_of


@pytest.mark.parametrize(
    ("value", "label"), [(0, "Extreme Fear"), (30, "Fear"), (50, "Neutral"), (70, "Greed"), (90, "Extreme Greed")]
)
def test_classification_bands(value: float, label: str) -> None:
    assert classify(value) == label


@pytest.mark.parametrize(
    ("configured", "provider"), [("none", None), ("simulated", "simulated"), ("fear_greed", "fear_greed")]
)
def test_factory_builds_the_configured_provider(configured: str, provider: str | None) -> None:
    settings = MarketSettings(_env_file=None, QT_SENTIMENT_SOURCE=configured)
    service = build_sentiment(settings, FrozenClock())
    assert (service.provider.name if service else None) == provider
    if service is not None:
        service.close()


async def test_each_new_reading_is_kept_stamped_when_the_service_first_held_it(fng: FearGreedServer) -> None:
    # the shadow comparison needs the reading the live predictor held at each bar's close: a
    # reading published at midnight but fetched at 06:00 was not held before 06:00
    clock = FrozenClock(datetime(2025, 11, 25, 6, tzinfo=UTC))
    service = SentimentService(FearGreedProvider(fng.url, timeout=2), clock)
    await service.refresh()
    clock.advance(hours=1)
    await service.refresh()  # the same reading again: not a new one
    fng.status = 500
    clock.advance(hours=1)
    await service.refresh()  # a failure adds nothing
    fng.status = 200
    fng.body["data"][0].update(value="61", timestamp="1764115200")  # the next day's, fetched 2 days on
    clock.advance(days=2)
    await service.refresh()
    assert list(service.history) == [
        (datetime(2025, 11, 25, 6, tzinfo=UTC), 27.0),
        (datetime(2025, 11, 27, 8, tzinfo=UTC), 61.0),
    ]
    service.close()
