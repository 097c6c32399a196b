from datetime import UTC, datetime, timedelta

from backend.market.cache import BreakerState, CircuitBreaker, TTLCache
from backend.observability.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _count(metrics: Metrics, cache: str, result: str) -> float:
    value = metrics.registry.get_sample_value("market_cache_requests_total", {"cache": cache, "result": result})
    return value or 0.0


def test_entry_is_a_hit_until_its_ttl_passes_then_a_miss() -> None:
    clock, metrics = Clock(), Metrics()
    cache: TTLCache[int] = TTLCache("tickers", lambda: 60, clock, metrics.market_cache_requests)
    assert cache.get("k") is None
    cache.put("k", 1)
    clock.now += timedelta(seconds=59)
    entry = cache.get("k")
    assert entry is not None
    assert entry.value == 1
    clock.now += timedelta(seconds=1)
    assert cache.get("k") is None
    assert (_count(metrics, "tickers", "hit"), _count(metrics, "tickers", "miss")) == (1, 2)


def test_ttl_is_read_on_every_lookup_and_zero_disables_caching() -> None:
    clock = Clock()
    ttl = {"value": 60.0}
    cache: TTLCache[str] = TTLCache("rules", lambda: ttl["value"], clock)
    cache.put("all", "x")
    assert cache.get("all") is not None
    ttl["value"] = 0
    assert cache.get("all") is None
    assert cache.peek("all") is not None  # the last value stays for callers that accept stale data


def test_cache_evicts_the_oldest_entry_when_full() -> None:
    clock = Clock()
    cache: TTLCache[int] = TTLCache("klines", lambda: 60, clock, max_entries=2)
    for i in range(3):
        cache.put(i, i)
        clock.now += timedelta(seconds=1)
    assert cache.peek(0) is None
    assert cache.peek(1) is not None
    assert cache.peek(2) is not None


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_cooldown() -> None:
    clock, metrics = Clock(), Metrics()
    breaker = CircuitBreaker("binance", lambda: 3, lambda: 300, clock, metrics.market_breaker_open)
    breaker.record_failure("a")
    breaker.record_failure("b")
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure("c")
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert metrics.registry.get_sample_value("market_breaker_open", {"source": "binance"}) == 1
    clock.now += timedelta(seconds=300)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    breaker.record_failure("still down")  # the trial failed: open again for a full cooldown
    assert breaker.state is BreakerState.OPEN
    assert breaker.snapshot()["last_error"] == "still down"
    clock.now += timedelta(seconds=300)
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert metrics.registry.get_sample_value("market_breaker_open", {"source": "binance"}) == 0


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker("simulated", lambda: 2, lambda: 10, Clock())
    breaker.record_failure("x")
    breaker.record_success()
    breaker.record_failure("y")
    assert breaker.state is BreakerState.CLOSED
