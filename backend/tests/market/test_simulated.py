"""The simulated market: determinism, time, planted rejects, rules, depth, and its statistics."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from backend.market.errors import UnknownSymbolError
from backend.market.source import floor_time
from backend.market.sources.simulated import (
    PLANTED_REJECT_KINDS,
    REGULAR_SYMBOLS,
    SimulatedMarket,
)
from backend.market.types import SymbolStatus
from backend.tests.market.conftest import NOW, FrozenClock

REGULAR = [s.symbol for s in REGULAR_SYMBOLS]


def test_same_seed_gives_the_same_market_and_another_seed_does_not() -> None:
    a = SimulatedMarket(1, FrozenClock()).klines("BTCUSDT", "1h", limit=50)
    b = SimulatedMarket(1, FrozenClock()).klines("BTCUSDT", "1h", limit=50)
    c = SimulatedMarket(2, FrozenClock()).klines("BTCUSDT", "1h", limit=50)
    assert a == b
    assert [k.close for k in a] != [k.close for k in c]


def test_a_bar_is_the_same_whatever_window_asks_for_it(market: SimulatedMarket) -> None:
    long = market.klines("ETHUSDT", "1h", limit=1000)
    short = market.klines("ETHUSDT", "1h", start=long[500].open_time, limit=10)
    assert short == long[500:510]


def test_new_bars_appear_as_the_clock_passes_and_old_ones_never_change(
    market: SimulatedMarket, clock: FrozenClock
) -> None:
    before = market.klines("SOLUSDT", "1h", limit=5)
    assert before[-1].open_time == floor_time(NOW, "1h") - timedelta(hours=1)  # only closed bars
    clock.advance(hours=3)
    after = market.klines("SOLUSDT", "1h", limit=8)
    assert after[:5] == before
    assert after[-1].open_time == before[-1].open_time + timedelta(hours=3)


@pytest.mark.parametrize("interval", ["1m", "15m", "1h", "4h"])
def test_every_interval_agrees_on_the_daily_close(market: SimulatedMarket, interval: str) -> None:
    day = market.klines("BTCUSDT", "1d", limit=3)[-2]
    bars = market.klines("BTCUSDT", interval, start=day.open_time, end=day.close_time, limit=1000)
    assert bars[0].open == day.open
    if interval == "1m":  # 1000 bars cover part of the day: page to its end
        bars = market.klines("BTCUSDT", "1m", start=bars[-1].open_time, end=day.close_time, limit=1000)
    assert bars[-1].close_time == day.close_time
    assert bars[-1].close == day.close


def _aggregate(bars: list, per: int) -> list[tuple]:
    groups = [bars[i : i + per] for i in range(0, len(bars), per)]
    return [
        (g[0].open_time, g[0].open, max(k.high for k in g), min(k.low for k in g), g[-1].close, g[-1].close_time)
        for g in groups
    ]


@pytest.mark.parametrize(
    ("fine", "coarse", "per"), [("1m", "5m", 5), ("1m", "1h", 60), ("5m", "30m", 6), ("1h", "4h", 4), ("1h", "1d", 24)]
)
def test_every_bar_is_the_aggregate_of_the_finer_bars_inside_it(
    market: SimulatedMarket, fine: str, coarse: str, per: int
) -> None:
    """One price path: a coarser bar opens, closes, peaks and bottoms with the finer bars it holds
    (once every interval had its own path, equal only at midnight: an hour's minutes could trade
    several per cent away from the hour's bar)."""
    for symbol in ("BTCUSDT", "SOLUSDT", "USDCUSDT"):
        big = market.klines(symbol, coarse, limit=3)[:2]
        small = market.klines(symbol, fine, start=big[0].open_time, end=big[-1].close_time, limit=1000)
        assert len(small) == len(big) * per
        assert _aggregate(small, per) == [(k.open_time, k.open, k.high, k.low, k.close, k.close_time) for k in big]
        for k, group in zip(big, [small[i : i + per] for i in range(0, len(small), per)], strict=True):
            assert abs(sum(g.quote_volume for g in group) - k.quote_volume) <= Decimal("0.01") * per


def test_the_tickers_and_books_at_an_hour_are_the_hourly_bars(clock: FrozenClock) -> None:
    """At a whole hour the 24h ticker is the last 24 hourly bars (last price their close, high and
    low theirs) and the book brackets that close: what a backtest trades and marks on is the path
    its hourly bars describe."""
    clock.now = floor_time(NOW, "1h") + timedelta(hours=4)
    market = SimulatedMarket(seed=7, clock=clock)
    tickers, tops = market.tickers_24h(), market.book_tops()
    for symbol in ("BTCUSDT", "SOLUSDT", "ADAUSDT"):
        day = market.klines(symbol, "1h", limit=24)
        ticker = tickers[symbol]
        assert ticker.last_price == day[-1].close
        assert ticker.open_price == day[0].open
        assert ticker.high_price == max(k.high for k in day)
        assert ticker.low_price == min(k.low for k in day)
        assert tops[symbol].bid_price <= day[-1].close <= tops[symbol].ask_price


def test_at_a_whole_hour_the_window_is_the_hours_and_agrees_with_the_minutes(clock: FrozenClock) -> None:
    """On an hour's close the 24h window is the last 24 hourly bars (no minute is made); half a
    minute later it is the last 1,440 minutes, the same closed bars: the tickers and book tops agree
    but for the ticker's base volume (each bar's is its quote volume at its own typical price)."""
    hour = floor_time(NOW, "1h") + timedelta(hours=4)
    clock.now = hour
    market = SimulatedMarket(seed=7, clock=clock)
    at_hour, tops_at_hour = market.tickers_24h(), market.book_tops()
    books_at_hour = {s: market.order_book(s, 5) for s in ("BTCUSDT", "ADAUSDT")}
    assert {key[0] for key in market._bars._day_cache} == {"1h"}  # not a minute made
    clock.now = hour + timedelta(seconds=30)
    from_minutes, tops_from_minutes = market.tickers_24h(), market.book_tops()
    assert "1m" in {key[0] for key in market._bars._day_cache}
    assert at_hour.keys() == from_minutes.keys()
    assert len(at_hour) > 40
    assert tops_at_hour == tops_from_minutes
    for symbol, ticker in at_hour.items():
        minutes = from_minutes[symbol]
        assert replace(ticker, volume=minutes.volume) == minutes, symbol
        # base volume: each bar's quote volume at its own typical price (a review saw up to 1.6 %)
        assert abs(ticker.volume - minutes.volume) <= minutes.volume * Decimal("0.02"), symbol
    for symbol, book in books_at_hour.items():
        assert (book.bids[0].price, book.asks[0].price) == (
            tops_at_hour[symbol].bid_price,
            tops_at_hour[symbol].ask_price,
        )


def test_bars_are_consistent_and_on_the_tick_and_step_grid(market: SimulatedMarket) -> None:
    rules = market.symbol_rules()
    for symbol in ["BTCUSDT", "SHIBUSDT", "XRPUSDT", "DUSKUSDT"]:
        tick, step = rules[symbol].tick_size, rules[symbol].step_size
        for k in market.klines(symbol, "1h", limit=48):
            assert k.low <= min(k.open, k.close) <= max(k.open, k.close) <= k.high
            assert k.volume > 0
            assert k.quote_volume > 0
            assert k.close % tick == 0
            assert k.volume % step == 0
            assert k.close_time - k.open_time == timedelta(hours=1) - timedelta(milliseconds=1)


def test_about_forty_regular_usdt_symbols_with_realistic_rules(market: SimulatedMarket) -> None:
    rules = market.symbol_rules()
    regular = [rules[s] for s in REGULAR]
    assert 35 <= len(regular) <= 45
    for r in regular:
        assert r.status == SymbolStatus.TRADING
        assert r.quote_asset == "USDT"
        assert r.tick_size > 0
        assert r.step_size > 0
        assert r.min_notional == Decimal(5)
    tops = market.tickers_24h()
    assert tops["BTCUSDT"].quote_volume > tops["ETHUSDT"].quote_volume > tops["MANAUSDT"].quote_volume


@pytest.mark.parametrize(
    ("symbol", "kind"),
    [
        ("USDCUSDT", "stablecoin"),
        ("FDUSDUSDT", "stablecoin"),
        ("BTCUPUSDT", "leveraged"),
        ("ETHDOWNUSDT", "leveraged"),
        ("WAVESUSDT", "halted"),
        ("NOVAUSDT", "fresh_listing"),
        ("DUSKUSDT", "illiquid"),
    ],
)
def test_planted_rejects_are_present(market: SimulatedMarket, symbol: str, kind: str) -> None:
    assert PLANTED_REJECT_KINDS[symbol] == kind
    assert symbol in market.symbol_rules()


def test_stablecoins_stay_near_one(market: SimulatedMarket) -> None:
    ticker = market.tickers_24h()["USDCUSDT"]
    assert Decimal("0.95") < ticker.last_price < Decimal("1.05")


def test_the_halted_symbol_has_halt_status_and_no_volume(market: SimulatedMarket) -> None:
    assert market.symbol_rules()["WAVESUSDT"].status == SymbolStatus.HALT
    ticker = market.tickers_24h()["WAVESUSDT"]
    assert ticker.volume == 0
    assert ticker.trade_count == 0


def test_the_fresh_listing_was_listed_days_ago_and_has_no_earlier_bars(market: SimulatedMarket) -> None:
    listed = market.symbol_rules()["NOVAUSDT"].listed_at
    assert listed is not None
    assert NOW - listed < timedelta(days=3)
    bars = market.klines("NOVAUSDT", "1h", limit=1000)
    assert bars
    assert bars[0].open_time >= listed
    assert market.symbol_rules()["BTCUSDT"].listed_at < NOW - timedelta(days=365)


def test_the_illiquid_symbol_has_the_widest_spread_and_the_smallest_volume(market: SimulatedMarket) -> None:
    tops, tickers = market.book_tops(), market.tickers_24h()
    widest = max(tops.values(), key=lambda t: t.spread_bps)
    assert widest.symbol == "DUSKUSDT"
    assert widest.spread_bps > 100
    trading = [t for t in tickers.values() if t.quote_volume > 0]  # the halted symbol trades nothing
    assert min(trading, key=lambda t: t.quote_volume).symbol == "DUSKUSDT"


def test_spreads_widen_as_volume_falls(market: SimulatedMarket) -> None:
    tops, tickers = market.book_tops(), market.tickers_24h()
    symbols = REGULAR
    volume = np.array([float(tickers[s].quote_volume) for s in symbols])
    spread = np.array([float(tops[s].spread_bps) for s in symbols])
    ranks = np.corrcoef(np.argsort(np.argsort(volume)), np.argsort(np.argsort(spread)))[0, 1]
    assert ranks < -0.5


def test_book_tops_bracket_the_last_price(market: SimulatedMarket) -> None:
    tops, tickers = market.book_tops(), market.tickers_24h()
    for symbol in REGULAR:
        top = tops[symbol]
        assert top.bid_price < top.ask_price
        assert top.bid_price <= tickers[symbol].last_price <= top.ask_price


def test_the_tops_of_some_symbols_are_those_of_every_top(market: SimulatedMarket, clock: FrozenClock) -> None:
    for _ in range(3):
        every = market.book_tops()
        some = [*list(sorted(every)[::5]), "NOSUCHUSDT"]
        assert market.book_tops_of(some) == {s: every[s] for s in some if s in every}
        clock.advance(seconds=3_600)


def test_order_book_has_depth_best_first_on_both_sides(market: SimulatedMarket) -> None:
    book = market.order_book("ETHUSDT", limit=20)
    top = market.book_tops()["ETHUSDT"]
    assert len(book.bids) == len(book.asks) == 20
    assert book.bids[0].price == top.bid_price
    assert book.asks[0].price == top.ask_price
    assert all(a.price > b.price for a, b in zip(book.bids, book.bids[1:], strict=False))
    assert all(a.price < b.price for a, b in zip(book.asks, book.asks[1:], strict=False))
    assert sum(level.qty for level in book.asks) > 10 * book.asks[0].qty


def test_concurrent_readers_see_the_same_market_as_one_reader(clock: FrozenClock) -> None:
    from concurrent.futures import ThreadPoolExecutor

    expected = SimulatedMarket(seed=9, clock=clock).klines("BTCUSDT", "1h", limit=1000)
    shared = SimulatedMarket(seed=9, clock=clock)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: shared.klines("BTCUSDT", "1h", limit=1000), range(16)))
        books = list(pool.map(lambda _: shared.book_tops()["ETHUSDT"], range(8)))
    assert all(r == expected for r in results)
    assert len(set(books)) == 1


def test_unknown_symbol_is_refused(market: SimulatedMarket) -> None:
    with pytest.raises(UnknownSymbolError):
        market.klines("NOPEUSDT", "1h")
    with pytest.raises(UnknownSymbolError):
        market.order_book("NOPEUSDT")


def test_history_arrays_cover_a_year_for_forty_symbols(market: SimulatedMarket) -> None:
    bars = market.history_arrays("1h", NOW - timedelta(days=365), NOW, REGULAR)
    assert bars.close.shape[0] == 40
    assert bars.close.shape[1] >= 365 * 24 - 2
    assert np.isfinite(bars.close).all()


# -------------------------------------------------------------------------- statistics (not exact numbers)
@pytest.fixture(scope="module")
def year_returns() -> np.ndarray:
    market = SimulatedMarket(seed=11, clock=FrozenClock())
    bars = market.history_arrays("1h", NOW - timedelta(days=365), NOW, REGULAR)
    return np.diff(np.log(bars.close), axis=1)


def _acf(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    return float((x[:-lag] * x[lag:]).mean() / x.var())


def test_volatility_clusters_squared_returns_are_autocorrelated(year_returns: np.ndarray) -> None:
    squared = [np.mean([_acf(r**2, lag) for lag in (1, 2, 3, 6, 12)]) for r in year_returns]
    raw = [abs(_acf(r, 1)) for r in year_returns]
    assert np.median(squared) > 0.03
    assert np.median(squared) > 2 * np.median(raw)


def test_returns_have_heavier_tails_than_normal(year_returns: np.ndarray) -> None:
    z = (year_returns - year_returns.mean(axis=1, keepdims=True)) / year_returns.std(axis=1, keepdims=True)
    excess_kurtosis = (z**4).mean(axis=1) - 3
    assert np.median(excess_kurtosis) > 1.0
    # more 4-sigma moves than a normal distribution's 0.006%
    assert (np.abs(z) > 4).mean() > 0.0006


def test_symbols_move_together_through_the_market_factor(year_returns: np.ndarray) -> None:
    corr = np.corrcoef(year_returns)
    pairs = corr[np.triu_indices(len(corr), 1)]
    assert np.median(pairs) > 0.2
    assert corr[REGULAR.index("BTCUSDT"), REGULAR.index("ETHUSDT")] > 0.5


def test_stablecoins_do_not_follow_the_factor() -> None:
    market = SimulatedMarket(seed=11, clock=FrozenClock())
    bars = market.history_arrays("1h", NOW - timedelta(days=90), NOW, ["BTCUSDT", "USDCUSDT"])
    r = np.diff(np.log(bars.close), axis=1)
    assert abs(np.corrcoef(r)[0, 1]) < 0.1


def test_volume_rises_with_absolute_returns(year_returns: np.ndarray) -> None:
    market = SimulatedMarket(seed=11, clock=FrozenClock())
    bars = market.history_arrays("1h", NOW - timedelta(days=60), NOW, REGULAR[:10])
    r = np.abs(np.diff(np.log(bars.close), axis=1))
    v = np.log(bars.quote_volume[:, 1:])
    assert np.median([np.corrcoef(r[i], v[i])[0, 1] for i in range(10)]) > 0.2


def test_klines_kept_from_the_last_request_are_what_a_fresh_market_makes(clock: FrozenClock) -> None:
    # the market keeps the Klines of each symbol's last request; every later answer must still be
    # exactly the fresh one, across the days a window spans changing (twice a day for 500 hours)
    kept = SimulatedMarket(seed=5, clock=clock)
    for _ in range(30):
        clock.advance(hours=4, minutes=7)
        fresh = SimulatedMarket(seed=5, clock=clock)
        for symbol in ("BTCUSDT", "NOVAUSDT"):
            for interval, limit in (("1h", 500), ("1m", 300)):
                assert repr(kept.klines(symbol, interval, limit=limit)) == repr(
                    fresh.klines(symbol, interval, limit=limit)
                )
