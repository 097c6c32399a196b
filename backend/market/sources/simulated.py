"""A deterministic simulated spot market: ~40 USDT symbols plus the symbols a universe must reject.

The universe is in simulated_universe.py, the price process (a daily factor backbone with
volatility clustering and fat tails, intraday bars bridged to the day's return) in
simulated_bars.py; see docs/market.md. Here: the MarketDataSource on top of them, with bars up to
the clock's time only, 24h tickers from the last 24 hours of bars, and an order book whose spread
widens as recent volume falls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from backend.market.errors import UnknownSymbolError
from backend.market.source import floor_time, interval_seconds
from backend.market.sources.simulated_bars import BarArrays, BarModel
from backend.market.sources.simulated_book import BookSpec
from backend.market.sources.simulated_klines import KlineWindows
from backend.market.sources.simulated_universe import (
    ALL_SYMBOLS,
    DAY,
    EPOCH,
    PLANTED_REJECT_KINDS,
    PLANTED_REJECTS,
    REGULAR_SYMBOLS,
    SimSymbol,
    _decimals,
    _step_size,
    _tick_size,
)
from backend.market.types import BookTop, Kline, OrderBook, SymbolRules, SymbolStatus, Ticker24h

__all__ = [
    "ALL_SYMBOLS",
    "EPOCH",
    "PLANTED_REJECTS",
    "PLANTED_REJECT_KINDS",
    "REGULAR_SYMBOLS",
    "BarArrays",
    "SimSymbol",
    "SimulatedMarket",
]


class SimulatedMarket:
    """Deterministic for a given seed; bars up to ``clock()`` exist, later ones do not yet.

    Implements `MarketDataSource`. ``name`` is "simulated".
    """

    name = "simulated"

    def __init__(
        self,
        seed: int = 42,
        clock: Callable[[], datetime] | None = None,
        *,
        symbols: tuple[SimSymbol, ...] = ALL_SYMBOLS,
        generate_ahead: bool = False,  # a backtest's forward-only clock: BarModel(ahead=True)
    ) -> None:
        self.seed = seed
        self._clock = clock or (lambda: datetime.now(UTC))
        self._symbols = symbols
        self._index = {s.symbol: i for i, s in enumerate(symbols)}
        self._ticks = [_tick_size(s.price) for s in symbols]
        self._steps = [_step_size(s.price) for s in symbols]
        self._tick_dp = [_decimals(t) for t in self._ticks]
        self._step_dp = [_decimals(s) for s in self._steps]
        self._n = len(symbols)
        self._names = [s.symbol for s in symbols]
        self._halted = [s.status == SymbolStatus.HALT for s in symbols]
        self._price_spec = [f".{dp}f" for dp in self._tick_dp]
        self._qty_spec = [f".{dp}f" for dp in self._step_dp]
        self._book = [
            BookSpec.of(s, float(t), dp, sdp)
            for s, t, dp, sdp in zip(symbols, self._ticks, self._tick_dp, self._step_dp, strict=True)
        ]
        self._rules: tuple[datetime, dict[str, SymbolRules]] | None = None  # (the day, its rules)
        self._bars = BarModel(seed, symbols, ahead=generate_ahead)
        self._klines = KlineWindows(self._bars)
        self._window_cache: dict[tuple[str, int, int, int], tuple[tuple[np.ndarray, ...], bool]] = {}  # see _recent
        # the bars' lock: the window cache grows under it too
        self._lock = self._bars.lock

    # ------------------------------------------------------------------------------ metadata
    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(s.symbol for s in self._symbols)

    def now(self) -> datetime:
        return self._clock()

    def listed_at(self, symbol: str) -> datetime:
        spec = self._spec(symbol)
        if spec.listed_days_ago is not None:
            today = floor_time(self._clock(), "1d")
            return today - timedelta(days=spec.listed_days_ago)
        return EPOCH

    def _row(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            raise UnknownSymbolError(symbol) from None

    def _spec(self, symbol: str) -> SimSymbol:
        try:
            return self._symbols[self._index[symbol]]
        except KeyError:
            raise UnknownSymbolError(symbol) from None

    def history_arrays(
        self, interval: str, start: datetime, end: datetime, symbols: list[str] | None = None
    ) -> BarArrays:
        """Every closed bar with ``start <= open_time <= end`` as arrays (vectorised; for training and warm-up).

        Bars before a symbol's listing are NaN."""
        step = interval_seconds(interval)
        now = self._clock()
        last_open = floor_time(now, interval) - timedelta(seconds=step)
        end = min(end, last_open)
        start = max(start, EPOCH)
        names = tuple(symbols) if symbols is not None else self.symbols
        rows = [self._row(s) for s in names]
        if end < start:
            empty = np.zeros((len(names), 0))
            return BarArrays(names, interval, np.zeros(0, dtype=np.int64), *(empty,) * 6)
        first = int((start - EPOCH).total_seconds()) // DAY
        last = int((end - EPOCH).total_seconds()) // DAY
        times, o, h, lo, c, v, qv = self._bars.days(interval, first, last)
        mask = (times >= start.timestamp()) & (times <= end.timestamp())
        idx = np.asarray(rows, dtype=np.intp)
        arrays = [a[idx][:, mask] for a in (o, h, lo, c, v, qv)]
        times = times[mask]
        for i, name in enumerate(names):
            listed = self.listed_at(name).timestamp()
            if listed > EPOCH.timestamp():
                before = times < listed
                for a in arrays:
                    a[i, before] = np.nan
        return BarArrays(names, interval, times.astype(np.int64), *arrays)

    # ------------------------------------------------------------------------------ MarketDataSource
    def symbol_rules(self) -> dict[str, SymbolRules]:
        # the rules only change with the day (a fresh listing's date): built once a day
        today = floor_time(self._clock(), "1d")
        cached = self._rules
        if cached is None or cached[0] != today:
            cached = self._rules = (today, self._build_rules())
        return dict(cached[1])

    def _build_rules(self) -> dict[str, SymbolRules]:
        out: dict[str, SymbolRules] = {}
        for i, spec in enumerate(self._symbols):
            tick, step = self._ticks[i], self._steps[i]
            out[spec.symbol] = SymbolRules(
                symbol=spec.symbol,
                status=str(spec.status),
                base_asset=spec.base,
                quote_asset="USDT",
                tick_size=tick,
                min_price=tick,
                max_price=Decimal(1_000_000),
                step_size=step,
                min_qty=step,
                max_qty=Decimal(9_000_000),
                market_step_size=step,
                market_min_qty=Decimal(0),
                market_max_qty=Decimal(
                    max(1, int(spec.quote_volume / 5000 / spec.price)) if spec.quote_volume else 1000
                ),
                min_notional=Decimal(5),
                max_notional=Decimal(9_000_000),
                min_notional_applies_to_market=True,
                max_notional_applies_to_market=False,
                spot_allowed=True,
                listed_at=self.listed_at(spec.symbol),
                # PERCENT_PRICE_BY_SIDE as Binance sets it on most spot pairs
                bid_multiplier_up=Decimal(5),
                bid_multiplier_down=Decimal("0.2"),
                ask_multiplier_up=Decimal(5),
                ask_multiplier_down=Decimal("0.2"),
            )
        return out

    def _recent(self) -> tuple[tuple[np.ndarray, ...], bool, int]:
        """The closed bars of the last 24 hours, every symbol (read-only views): (open_time, o, h, l,
        c, vol, qvol), whether the days they come from hold no NaN (no listing in them: then the
        NaN-aware reductions are the plain ones, the same values without masks and copies), and
        their step in seconds.

        At a whole hour they are the last 24 hourly bars, else the last 1440 minutes: the same
        window, since the minutes of an hour are fitted to its bar (its open, high, low and close;
        quote volumes add up to its own; base volumes, each at its bar's typical price, nearly), so a
        backtest on hourly bars never makes a minute. The same bars
        as ``history_arrays`` over that window; the two days it can span are joined once per day
        pair and the window is a slice of them, so the tickers and the book tops at each moment cost
        a few vectorised reductions (a backtest asks at every bar)."""
        now = self._clock()
        interval = "1h" if now.timestamp() % 3600 == 0 else "1m"
        step = interval_seconds(interval)
        last_open = int(floor_time(now, interval).timestamp()) - step
        first_open = max(last_open - (DAY // step - 1) * step, int(EPOCH.timestamp()))
        if last_open < first_open:
            empty = np.zeros((self._n, 0))
            return (np.zeros(0, dtype=np.int64), *(empty,) * 6), False, step
        epoch = int(EPOCH.timestamp())
        first, last = (first_open - epoch) // DAY, (last_open - epoch) // DAY
        today = int(floor_time(now, "1d").timestamp())
        key = (interval, first, last, today)  # a fresh listing's NaN bars move with the clock's day
        with self._lock:
            cached = self._window_cache.get(key)
            if cached is None:
                joined, masked = self._joined(interval, first, last)
                cached = (joined, not masked and self._bars.nan_free(interval, first, last))
                # one window per interval: a sub-hour run alternates between minutes and, at whole hours, hours
                self._window_cache = {k: v for k, v in self._window_cache.items() if k[0] != interval}
                self._window_cache[key] = cached
        joined, clean = cached
        lo = (first_open - int(joined[0][0])) // step
        hi = (last_open - int(joined[0][0])) // step + 1
        return tuple(a[..., lo:hi] for a in joined), clean, step

    def _joined(self, interval: str, first: int, last: int) -> tuple[tuple[np.ndarray, ...], bool]:
        """The bars of days [first, last] (read-only; views of the day batches unless a listing's
        earlier bars had to be made NaN) and whether any were. Listings start at a day's open."""
        times, *arrays = self._bars.days(interval, first, last)
        before_listing = []
        for i, spec in enumerate(self._symbols):
            listed = self.listed_at(spec.symbol).timestamp()
            if listed > EPOCH.timestamp():
                before = times < listed
                if before.any():
                    before_listing.append((i, before))
        if before_listing:
            arrays = [a.copy() for a in arrays]
            for i, before in before_listing:
                for a in arrays:
                    a[i, before] = np.nan
            for a in arrays:
                a.flags.writeable = False
        return (times.astype(np.int64), *arrays), bool(before_listing)

    def tickers_24h(self) -> dict[str, Ticker24h]:
        (times, o, h, lo, c, v, qv), clean, step = self._recent()
        if times.size == 0:
            return {}
        close_time = datetime.fromtimestamp(int(times[-1]) + step, UTC) - timedelta(milliseconds=1)
        if clean:  # every symbol has every bar: what the NaN-aware lines below give, without the masks
            present = [True] * self._n
            opened_all, volumes, quotes = o[:, 0], v.sum(axis=1), qv.sum(axis=1)
            highs, lows = h.max(axis=1), lo.min(axis=1)
        else:
            valid = ~np.isnan(c)
            present = valid.any(axis=1).tolist()
            first = np.argmax(valid, axis=1)
            opened_all = o[np.arange(self._n), first]
            volumes = np.nansum(v, axis=1)
            quotes = np.nansum(qv, axis=1)
            with np.errstate(all="ignore"):
                highs = np.nanmax(np.where(np.array(present)[:, None], h, 0.0), axis=1)
                lows = np.nanmin(np.where(np.array(present)[:, None], lo, 0.0), axis=1)
        out: dict[str, Ticker24h] = {}
        # plain floats (the same doubles) for the per-symbol loop: a backtest asks at every bar
        columns = zip(
            present,
            opened_all.tolist(),
            c[:, -1].tolist(),
            highs.tolist(),
            lows.tolist(),
            volumes.tolist(),
            quotes.tolist(),
            strict=True,
        )
        for i, (shown, opened, last, high, low, volume, quote) in enumerate(columns):
            if not shown:
                continue
            price = self._price_spec[i]  # format(x, ".Nf") is _fmt(x, N)
            halted = self._halted[i]
            if halted:
                volume = quote = 0.0
            symbol = self._names[i]
            out[symbol] = Ticker24h(
                symbol=symbol,
                last_price=Decimal(format(last, price)),
                open_price=Decimal(format(opened, price)),
                high_price=Decimal(format(high, price)),
                low_price=Decimal(format(low, price)),
                volume=Decimal(format(volume, self._qty_spec[i])),
                quote_volume=Decimal(format(quote, ".2f")),
                price_change_pct=Decimal(format((last / opened - 1) * 100, ".3f")),
                trade_count=0 if halted else int(quote / 400) + 1,
                close_time=close_time,
            )
        return out

    def _top(self, i: int) -> BookTop | None:
        (times, _o, _h, _l, c, _v, qv), _clean, step = self._recent()
        if times.size == 0:
            return None
        mid = float(c[i, -1])
        if math.isnan(mid) and not (~np.isnan(c[i])).any():
            return None
        recent = float(np.nansum(qv[i, -(3600 // step) :]))  # the last hour's quote volume
        return self._book[i].top(mid, recent, datetime.fromtimestamp(int(times[-1]) + step, UTC))

    def book_tops(self) -> dict[str, BookTop]:
        return self._tops(range(self._n))

    def book_tops_of(self, symbols: Sequence[str]) -> dict[str, BookTop]:
        """``book_tops()`` of these symbols only (unknown ones left out): each top is the same."""
        return self._tops(sorted({self._index[s] for s in symbols if s in self._index}))

    def _tops(self, rows: Iterable[int]) -> dict[str, BookTop]:
        (times, _o, _h, _l, c, _v, qv), clean, step = self._recent()
        if times.size == 0:
            return {}
        hour = qv[:, -(3600 // step) :]  # the last hour's quote volume
        recent = (hour.sum(axis=1) if clean else np.nansum(hour, axis=1)).tolist()
        mids = c[:, -1].tolist()
        seen = None  # rows with a NaN last close: a bar seen earlier in the window still makes a top
        time = datetime.fromtimestamp(int(times[-1]) + step, UTC)
        out: dict[str, BookTop] = {}
        for i in rows:
            mid = mids[i]
            if math.isnan(mid):
                seen = (~np.isnan(c)).any(axis=1) if seen is None else seen
                if not seen[i]:
                    continue
            out[self._names[i]] = self._book[i].top(mid, recent[i], time)
        return out

    def klines(
        self,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        i = self._index.get(symbol)
        if i is None:
            raise UnknownSymbolError(symbol)
        step = interval_seconds(interval)
        limit = max(1, min(limit, 1000))
        delta = timedelta(seconds=step)
        if start is None:
            end_at = end or self._clock()
            start_at = floor_time(end_at, interval) - delta * limit
        else:
            start_at = max(start, self.listed_at(symbol))  # nothing to page through before the listing
            end_at = min(end or self._clock(), start_at + delta * limit)
        # history_arrays' window: closed bars only, none before EPOCH
        end_at = min(end_at, floor_time(self._clock(), interval) - delta)
        start_at = max(start_at, EPOCH)
        if end_at < start_at:
            return []
        listed = self.listed_at(symbol).timestamp()
        dp, sdp = self._tick_dp[i], self._step_dp[i]
        out = self._klines.between(
            i, symbol, interval, start_at, end_at, step=step, listed=listed, price_dp=dp, qty_dp=sdp
        )
        if start is None:
            out = out[-limit:]
        return out[:limit]

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        i = self._index.get(symbol)
        if i is None:
            raise UnknownSymbolError(symbol)
        top = self._top(i)
        now = self._clock()
        if top is None:
            return OrderBook(symbol=symbol, bids=(), asks=(), time=now)
        limit = max(1, min(limit, 1000))
        minute = int(now.timestamp()) // 60
        rng = np.random.default_rng([self.seed, 0xB00C, i, minute])
        bids, asks = self._book[i].depth(top, self._ticks[i], limit, rng)
        return OrderBook(symbol=symbol, bids=bids, asks=asks, time=top.time)

    def server_time(self) -> datetime:
        return self._clock()

    def close(self) -> None:
        with self._lock:
            self._bars.clear()
            self._klines.clear()
            self._window_cache = {}
