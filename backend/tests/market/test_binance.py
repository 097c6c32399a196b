"""The binance source through the real python-binance client against the local Binance server."""

from __future__ import annotations

import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from backend.market.errors import (
    MarketDataError,
    MarketRateLimitedError,
    TemporaryMarketDataError,
    UnknownSymbolError,
    WeightBudgetExceededError,
)
from backend.market.sources.binance import BinanceMarket, BinanceMarketSource, RestClient, api_url
from backend.market.sources.simulated import SimulatedMarket
from backend.tests.fakes.binance_server import BinanceAPIError, FakeBinance, FakeRequest
from backend.tests.market.conftest import FrozenClock
from config.market import MarketSettings


@pytest.fixture
def source(binance_server: FakeBinance, clock: FrozenClock) -> BinanceMarketSource:
    src = BinanceMarketSource(binance_server.url, timeout=5, weight_budget=1200, clock=clock)
    yield src
    src.close()


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (None, "https://api.binance.com/api"),
        ("https://api.binance.com", "https://api.binance.com/api"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/api"),
        ("http://mirror.example/api", "http://mirror.example/api"),
    ],
)
def test_base_url_override(configured: str | None, expected: str) -> None:
    assert api_url(configured) == expected


def test_constructing_the_source_makes_no_network_call(binance_server: FakeBinance) -> None:
    source = BinanceMarketSource(binance_server.url)
    unreachable = BinanceMarketSource("http://127.0.0.1:9")  # nothing listens there: still fine
    assert binance_server.requests == []
    source.close()
    unreachable.close()


def test_from_settings_reads_the_market_section(binance_server: FakeBinance) -> None:
    settings = MarketSettings(_env_file=None, QT_BINANCE_API_URL=binance_server.url, QT_BINANCE_WEIGHT_BUDGET=50)
    source = BinanceMarket.from_settings(settings)
    assert source.api_url == f"{binance_server.url}/api"
    source.close()


def test_rules_tickers_and_tops_match_the_market_served(source: BinanceMarketSource, market: SimulatedMarket) -> None:
    assert source.symbol_rules()["BTCUSDT"] == _without_listing(market.symbol_rules()["BTCUSDT"])
    assert source.tickers_24h()["ETHUSDT"] == market.tickers_24h()["ETHUSDT"]
    top = source.book_tops()["SOLUSDT"]
    expected = market.book_tops()["SOLUSDT"]
    assert (top.bid_price, top.bid_qty, top.ask_price, top.ask_qty) == (
        expected.bid_price,
        expected.bid_qty,
        expected.ask_price,
        expected.ask_qty,
    )


def _without_listing(rules):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(rules, listed_at=None)  # exchangeInfo carries no listing time


def test_klines_are_the_closed_bars_of_the_market(source: BinanceMarketSource, market: SimulatedMarket) -> None:
    assert source.klines("BTCUSDT", "1h", limit=24) == market.klines("BTCUSDT", "1h", limit=24)
    start = market.klines("BTCUSDT", "1h", limit=100)[0].open_time
    assert source.klines("BTCUSDT", "1h", start=start, limit=5) == market.klines("BTCUSDT", "1h", start=start, limit=5)


def test_order_book_and_server_time(source: BinanceMarketSource, market: SimulatedMarket) -> None:
    book = source.order_book("ETHUSDT", limit=7)
    assert len(book.bids) == 7
    assert book.bids == market.order_book("ETHUSDT", 7).bids
    assert source.server_time().tzinfo is not None


def test_unknown_symbol_is_a_per_symbol_error(source: BinanceMarketSource) -> None:
    with pytest.raises(UnknownSymbolError, match="NOPEUSDT"):
        source.klines("NOPEUSDT", "1h")
    with pytest.raises(UnknownSymbolError, match="NOPEUSDT"):
        source.order_book("NOPEUSDT")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_temporary(source: BinanceMarketSource, binance_server: FakeBinance, status: int) -> None:
    binance_server.faults.fail(status=status, path="/api/v3/ticker/24hr")
    with pytest.raises(TemporaryMarketDataError, match=f"HTTP {status}"):
        source.tickers_24h()
    assert source.tickers_24h()  # the next call goes through


def test_a_stalled_answer_is_a_temporary_timeout(binance_server: FakeBinance, clock: FrozenClock) -> None:
    source = BinanceMarketSource(binance_server.url, timeout=0.3, clock=clock)
    binance_server.faults.stall(path="/api/v3/exchangeInfo")
    with pytest.raises(TemporaryMarketDataError, match="timed out"):
        source.symbol_rules()
    source.close()


@pytest.mark.parametrize(("status", "what"), [(429, "rate limited"), (418, "IP banned")])
def test_rate_limit_backs_off_for_retry_after_without_sending(
    source: BinanceMarketSource, binance_server: FakeBinance, clock: FrozenClock, status: int, what: str
) -> None:
    binance_server.faults.rate_limit(status=status, retry_after=120)
    with pytest.raises(MarketRateLimitedError, match=what) as caught:
        source.book_tops()
    assert caught.value.retry_after == 120
    assert caught.value.http_status == status
    sent = len(binance_server.requests)
    clock.advance(seconds=119)
    with pytest.raises(MarketRateLimitedError, match="not sent"):
        source.klines("BTCUSDT", "1h", limit=2)
    assert len(binance_server.requests) == sent  # nothing went out during the back-off
    clock.advance(seconds=1)
    assert source.klines("BTCUSDT", "1h", limit=2)


def test_weight_budget_refuses_calls_that_would_exceed_it(binance_server: FakeBinance, clock: FrozenClock) -> None:
    source = BinanceMarketSource(binance_server.url, weight_budget=100, clock=clock)
    binance_server.weight_offset = 75  # other clients of this IP used weight this minute
    source.server_time()
    assert source.used_weight == 76  # read from X-MBX-USED-WEIGHT-1M
    source.symbol_rules()  # weight 20: 96 of 100
    sent = len(binance_server.requests)
    with pytest.raises(WeightBudgetExceededError, match="needs 80, 96 of 100"):
        source.tickers_24h()
    assert len(binance_server.requests) == sent
    clock.advance(minutes=1)  # a new minute: the budget is available again
    binance_server.weight_offset = 0
    assert source.tickers_24h()
    source.close()


def test_a_bad_request_is_a_market_data_error(source: BinanceMarketSource, binance_server: FakeBinance) -> None:
    binance_server.faults.fail(status=400)
    with pytest.raises(MarketDataError, match="HTTP 400") as caught:
        source.server_time()
    assert not isinstance(caught.value, TemporaryMarketDataError)


# -------------------------------------------------------------------------- signed endpoints (the route hook)
def _account(server: FakeBinance, request: FakeRequest) -> object:
    return {"makerCommission": 10, "balances": [], "echo": request.params.get("omitZeroBalances")}


@pytest.fixture
def signed_server(binance_server: FakeBinance) -> FakeBinance:
    binance_server.add_route("GET", "/api/v3/account", _account, signed=True, weight=20)
    binance_server.add_route("POST", "/api/v3/order/test", lambda s, r: {}, signed=True, weight=1)
    return binance_server


def _client(server: FakeBinance, key: str = "fake-api-key", secret: str = "fake-api-secret") -> Client:  # noqa: S107
    return RestClient(f"{server.url}/api", 5, key, secret)


def test_signed_get_and_post_with_a_good_signature_pass(signed_server: FakeBinance) -> None:
    client = _client(signed_server)
    assert client.get_account(omitZeroBalances="true")["echo"] == "true"
    assert client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001") == {}
    client.close_connection()


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [("fake-api-key", "wrong-secret", -1022), ("other-key", "fake-api-secret", -2015)],
)
def test_bad_signature_or_key_is_refused(signed_server: FakeBinance, key: str, secret: str, code: int) -> None:
    client = _client(signed_server, key, secret)
    with pytest.raises(BinanceAPIException) as caught:
        client.get_account()
    assert caught.value.code == code
    client.close_connection()


def test_clock_skew_beyond_recv_window_is_minus_1021(signed_server: FakeBinance) -> None:
    client = _client(signed_server)
    signed_server.faults.clock_skew_ms = 70_000
    with pytest.raises(BinanceAPIException) as caught:
        client.get_account()
    assert caught.value.code == -1021
    assert caught.value.status_code == 400
    signed_server.faults.clear()
    signed_server.faults.timestamp_error()
    with pytest.raises(BinanceAPIException, match="recvWindow"):
        client.get_account()
    client.close_connection()


def test_handler_errors_use_binance_error_payloads(binance_server: FakeBinance) -> None:
    def refuse(server: FakeBinance, request: FakeRequest) -> object:
        raise BinanceAPIError(400, -2010, "Account has insufficient balance for requested action.")

    binance_server.add_route("POST", "/api/v3/order", refuse, signed=True)
    client = _client(binance_server)
    with pytest.raises(BinanceAPIException) as caught:
        client.order_market_buy(symbol="BTCUSDT", quantity="1")
    assert (caught.value.code, caught.value.message) == (
        -2010,
        "Account has insufficient balance for requested action.",
    )
    client.close_connection()


def test_unknown_endpoint_is_404(binance_server: FakeBinance) -> None:
    client = _client(binance_server)
    with pytest.raises(BinanceAPIException) as caught:
        client.get_avg_price(symbol="BTCUSDT")
    assert caught.value.status_code == 404
    client.close_connection()
