"""MarketService: caches per data kind, live TTL, breaker, reference price, refresh reports, metrics."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from backend.market.errors import CircuitOpenError, TemporaryMarketDataError, UnknownSymbolError
from backend.market.sentiment import SentimentReading, SentimentService
from backend.market.service import MarketService
from backend.market.sources.simulated import SimulatedMarket
from backend.market.types import BookTop, Kline, OrderBook, SymbolRules, Ticker24h
from backend.observability.metrics import Metrics
from backend.tests.market.conftest import FrozenClock
from config.market import MarketSettings


class CountingSource:
    """The simulated market, counting calls, failing on demand."""

    name = "counting"

    def __init__(self, market: SimulatedMarket) -> None:
        self.market = market
        self.calls: Counter[str] = Counter()
        self.failing = False

    def _enter(self, what: str) -> None:
        self.calls[what] += 1
        if self.failing:
            raise TemporaryMarketDataError("source down")

    def symbol_rules(self) -> dict[str, SymbolRules]:
        self._enter("rules")
        return self.market.symbol_rules()

    def tickers_24h(self) -> dict[str, Ticker24h]:
        self._enter("tickers")
        return self.market.tickers_24h()

    def book_tops(self) -> dict[str, BookTop]:
        self._enter("book_tops")
        return self.market.book_tops()

    def klines(self, symbol: str, interval: str, start: Any = None, end: Any = None, limit: int = 500) -> list[Kline]:
        self._enter("klines")
        return self.market.klines(symbol, interval, start, end, limit)

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        self._enter("order_book")
        return self.market.order_book(symbol, limit)

    def server_time(self) -> datetime:
        self._enter("time")
        return self.market.server_time()

    def close(self) -> None:
        self.calls["close"] += 1


class Settings:
    """Market settings that a test may change while the service runs (like PUT /settings)."""

    def __init__(self, **values: Any) -> None:
        self.values = {"QT_MARKET_CACHE_TTL_SECONDS": 60, "QT_MARKET_BREAKER_FAILURES": 3, **values}

    def __call__(self) -> MarketSettings:
        return MarketSettings(_env_file=None, **self.values)


@pytest.fixture
def source(market: SimulatedMarket) -> CountingSource:
    return CountingSource(market)


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def service(source: CountingSource, settings: Settings, clock: FrozenClock, metrics: Metrics) -> MarketService:
    return MarketService(source, settings, clock, metrics)


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_snapshot_is_served_from_cache_within_the_ttl(
    service: MarketService, source: CountingSource, clock: FrozenClock, metrics: Metrics
) -> None:
    first = await service.snapshot()
    clock.advance(seconds=59)
    second = await service.snapshot()
    assert second.tickers is first.tickers
    assert source.calls["tickers"] == 1
    clock.advance(seconds=1)
    await service.snapshot()
    assert source.calls["tickers"] == 2
    assert _sample(metrics, "market_cache_requests_total", cache="tickers", result="hit") == 1
    assert _sample(metrics, "market_cache_requests_total", cache="tickers", result="miss") == 2
    assert first.source == "counting"
    assert "BTCUSDT" in first.rules
    assert "BTCUSDT" in first.book_tops


async def test_a_ttl_change_applies_without_restart(
    service: MarketService, source: CountingSource, settings: Settings
) -> None:
    await service.tickers()
    settings.values["QT_MARKET_CACHE_TTL_SECONDS"] = 0
    await service.tickers()
    assert source.calls["tickers"] == 2


async def test_klines_are_cached_per_symbol_interval_and_limit(service: MarketService, source: CountingSource) -> None:
    bars = await service.klines(["BTCUSDT", "ETHUSDT"], "1h", 48)
    again = await service.klines(["BTCUSDT", "ETHUSDT"], "1h", 48)
    assert again == bars
    assert len(bars["BTCUSDT"]) == 48
    assert source.calls["klines"] == 2
    await service.klines(["BTCUSDT"], "4h", 48)
    assert source.calls["klines"] == 3


async def test_klines_default_to_the_configured_interval_and_history(
    service: MarketService, settings: Settings
) -> None:
    settings.values.update(QT_MARKET_KLINE_INTERVAL="4h", QT_MARKET_HISTORY_BARS=30)
    bars = (await service.klines(["SOLUSDT"]))["SOLUSDT"]
    assert len(bars) == 30
    assert bars[1].open_time - bars[0].open_time == timedelta(hours=4)


async def test_more_than_a_thousand_bars_are_paged(service: MarketService, market: SimulatedMarket) -> None:
    bars = await service.symbol_klines("BTCUSDT", "1h", 2500)
    assert len(bars) == 2500
    assert bars[-1] == market.klines("BTCUSDT", "1h", limit=1)[0]
    assert all(b.open_time - a.open_time == timedelta(hours=1) for a, b in itertools.pairwise(bars))


async def test_unknown_symbols_are_left_out_of_klines_and_named_in_errors(service: MarketService) -> None:
    bars, errors = await service.klines_with_errors(["BTCUSDT", "NOPEUSDT"])
    assert list(bars) == ["BTCUSDT"]
    assert errors == {"NOPEUSDT": "unknown symbol NOPEUSDT"}
    assert service.breaker.consecutive_failures == 0  # the source answered: not a source failure


async def test_reference_price_is_the_mid_with_its_time(service: MarketService, market: SimulatedMarket) -> None:
    price, as_of = await service.reference_price("ETHUSDT")
    top = market.book_tops()["ETHUSDT"]
    assert price == top.mid
    assert isinstance(price, Decimal)
    assert as_of == top.time
    with pytest.raises(UnknownSymbolError):
        await service.reference_price("NOPEUSDT")


async def test_order_book_cache_is_short_lived(
    service: MarketService, source: CountingSource, clock: FrozenClock
) -> None:
    await service.order_book("BTCUSDT", 10)
    clock.advance(seconds=4)
    await service.order_book("BTCUSDT", 10)
    assert source.calls["order_book"] == 1
    clock.advance(seconds=1)  # the cache TTL is 60 s, but a book for fills is never older than 5 s
    await service.order_book("BTCUSDT", 10)
    assert source.calls["order_book"] == 2


async def test_breaker_opens_after_consecutive_failures_and_stops_calling_the_source(
    service: MarketService, source: CountingSource, clock: FrozenClock, metrics: Metrics
) -> None:
    source.failing = True
    for _ in range(3):
        with pytest.raises(TemporaryMarketDataError, match="source down"):
            await service.tickers(force=True)
    with pytest.raises(CircuitOpenError, match="circuit breaker open"):
        await service.tickers(force=True)
    assert source.calls["tickers"] == 3
    assert service.health_reasons() == ["counting circuit breaker open: TemporaryMarketDataError: source down"]
    assert _sample(metrics, "market_breaker_open", source="counting") == 1
    assert (
        _sample(
            metrics, "market_source_requests_total", source="counting", endpoint="ticker_24hr", outcome="breaker_open"
        )
        == 1
    )
    clock.advance(seconds=300)  # default cooldown
    source.failing = False
    assert await service.tickers(force=True)
    assert service.health_reasons() == []


async def test_refresh_reports_symbols_successes_errors_and_breaker(
    service: MarketService, clock: FrozenClock, metrics: Metrics
) -> None:
    report = await service.refresh(["BTCUSDT", "NOPEUSDT", "ETHUSDT"])
    assert report.symbols == ["BTCUSDT", "NOPEUSDT", "ETHUSDT"]
    assert report.successful == ["BTCUSDT", "ETHUSDT"]
    assert report.errors == {"NOPEUSDT": "unknown symbol NOPEUSDT"}
    assert report.breaker["state"] == "closed"
    assert report.degraded
    ages = service.data_ages()
    assert ages["tickers"] is not None
    assert ages["tickers"] < 60
    assert _sample(metrics, "market_data_age_seconds", kind="klines") > 0


async def test_refresh_with_the_source_down_records_every_kind(service: MarketService, source: CountingSource) -> None:
    source.failing = True
    report = await service.refresh(["BTCUSDT"])
    assert set(report.errors) == {"rules", "tickers", "book_tops", "BTCUSDT"}
    assert report.successful == []
    assert report.breaker["state"] == "open"


class FailingProvider:
    name = "flaky"

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.fail = False

    def fetch(self) -> SentimentReading:
        if self.fail:
            raise TemporaryMarketDataError("provider down")
        return SentimentReading(40.0, "Fear", self.clock(), self.name)

    def close(self) -> None:
        return None


async def test_refresh_keeps_the_last_sentiment_and_reports_the_failure(
    source: CountingSource, settings: Settings, clock: FrozenClock
) -> None:
    provider = FailingProvider(clock)
    service = MarketService(source, settings, clock, sentiment=SentimentService(provider, clock))
    first = await service.refresh(["BTCUSDT"])
    assert first.sentiment is not None
    assert first.sentiment["value"] == 40.0
    provider.fail = True
    clock.advance(minutes=10)
    second = await service.refresh(["BTCUSDT"])
    assert second.sentiment_error == "provider down"
    assert second.sentiment is not None
    assert second.sentiment["value"] == 40.0
    assert second.sentiment["age_seconds"] == 600
    assert second.degraded


def test_close_closes_the_source(service: MarketService, source: CountingSource) -> None:
    service.close()
    assert source.calls["close"] == 1
