"""The `replay` market source: recorded bars from ``QT_REPLAY_DIR/SYMBOL.csv``, one bar per refresh.

File format: a header row, then one bar per line with ``open_time`` (milliseconds since the Unix
epoch, strictly increasing), ``open, high, low, close, volume`` and optionally ``quote_volume``
(extra columns are ignored). Every file must have the same bar interval. Problems are reported
with file, line and reason when the source is built, so a bad directory refuses to start.

The replay clock starts one day after the first bar (so a 24h ticker window exists) and moves to
the next bar time on every `advance()` (the refresh job calls it). Given a ``clock`` instead (the
backtest's), the newest visible bar is the last one closed at ``clock()``: nothing later is seen.
Tickers and book tops are derived from the visible bars: a 24h window, and a synthetic spread of
``spread_bps`` around the last close. Rules are inferred: tick and step sizes from the decimals
the files use, the minimum order value from the quote asset (Binance's: 0.0001 BTC, 5 USDT).
"""

from __future__ import annotations

import bisect
import csv
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path

from backend.market.errors import MarketDataError, ReplayFileError, UnknownSymbolError
from backend.market.source import INTERVAL_SECONDS, from_ms
from backend.market.types import BookLevel, BookTop, Kline, OrderBook, SymbolRules, SymbolStatus, Ticker24h

REQUIRED = ("open_time", "open", "high", "low", "close", "volume")
QUOTES = ("USDT", "FDUSD", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
# Binance's minimum order value by quote asset (5 for the dollar stablecoins and anything else).
MIN_NOTIONAL = {"BTC": Decimal("0.0001"), "ETH": Decimal("0.001"), "BNB": Decimal("0.01")}
_INTERVAL_BY_MS = {seconds * 1000: name for name, seconds in INTERVAL_SECONDS.items()}


_BLOCK = 32  # bars per block of the precomputed highs and lows (see _Series.window_range)
_EXACT = Context(prec=80)  # window sums of the files' values are exact at this precision


@dataclass(slots=True)
class _Series:
    symbol: str
    times: list[int]  # open times, ms
    bars: list[Kline]
    price_decimals: int
    qty_decimals: int
    # for 24h windows at any cursor: per-block highs and lows, and the sums of the last window asked
    # for (moved bar by bar as a backtest's clock moves, exact at _EXACT's precision)
    block_highs: list[Decimal] = field(default_factory=list)
    block_lows: list[Decimal] = field(default_factory=list)
    window: tuple[int, int, Decimal, Decimal, int] = (0, 0, Decimal(0), Decimal(0), 0)

    @classmethod
    def build(cls, symbol: str, times: list[int], bars: list[Kline], price_dp: int, qty_dp: int) -> _Series:
        blocks = range(0, len(bars), _BLOCK)
        highs = [max(k.high for k in bars[i : i + _BLOCK]) for i in blocks]
        lows = [min(k.low for k in bars[i : i + _BLOCK]) for i in blocks]
        return cls(symbol, times, bars, price_dp, qty_dp, highs, lows)

    def sums(self, lo: int, hi: int) -> tuple[Decimal, Decimal, int]:
        """(volume, quote volume, trades) of bars[lo:hi], exact, then rounded once to the context."""
        start, end, volume, quote, trades = self.window
        if start <= lo <= end <= hi and (lo - start) + (hi - end) < hi - lo:
            added, removed = self.bars[end:hi], self.bars[start:lo]  # slide the last window
        else:
            added, removed, volume, quote, trades = self.bars[lo:hi], [], Decimal(0), Decimal(0), 0
        for k in added:
            volume, quote, trades = (
                _EXACT.add(volume, k.volume),
                _EXACT.add(quote, k.quote_volume),
                trades + k.trade_count,
            )
        for k in removed:
            volume = _EXACT.subtract(volume, k.volume)
            quote = _EXACT.subtract(quote, k.quote_volume)
            trades -= k.trade_count
        self.window = (lo, hi, volume, quote, trades)
        return +volume, +quote, trades

    def extremes(self, lo: int, hi: int) -> tuple[Decimal, Decimal]:
        """(highest high, lowest low) of bars[lo:hi] (hi > lo), whole blocks from the precomputed ones."""
        first_block, last_block = -(-lo // _BLOCK), hi // _BLOCK
        if first_block >= last_block:
            window = self.bars[lo:hi]
            return max(k.high for k in window), min(k.low for k in window)
        edges = self.bars[lo : first_block * _BLOCK] + self.bars[last_block * _BLOCK : hi]
        high = max(self.block_highs[first_block:last_block])
        low = min(self.block_lows[first_block:last_block])
        if edges:
            high = max(high, max(k.high for k in edges))
            low = min(low, min(k.low for k in edges))
        return high, low


_MAX_DP = 8  # tick and step sizes are at least 1e-8


def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1].rstrip("0")) if "." in text else 0


def load_csv(path: Path) -> tuple[list[int], list[tuple[Decimal, ...]], int, int]:
    """Rows of one file: (open times, (o, h, l, c, v, qv|None...)), price and quantity decimals."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ReplayFileError(path, None, f"cannot be read: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ReplayFileError(path, 1, "empty file (a header row is required)")
        columns = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise ReplayFileError(path, 1, f"missing column {', '.join(repr(m) for m in missing)}")
        idx = [columns.index(c) for c in REQUIRED]
        qv_idx = columns.index("quote_volume") if "quote_volume" in columns else None
        times: list[int] = []
        rows: list[tuple[Decimal, ...]] = []
        known: dict[str, Decimal] = {}  # one Decimal per distinct text (a bar opens at the last close)
        price_dp = qty_dp = 0
        for line, record in enumerate(reader, start=2):
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) < len(columns):
                raise ReplayFileError(path, line, f"{len(record)} values, {len(columns)} columns expected")
            cells = [record[i].strip() for i in idx]
            try:
                open_time = int(cells[0])
            except ValueError:
                raise ReplayFileError(path, line, f"open_time {cells[0]!r} is not an integer (ms)") from None
            texts = cells[1:] if qv_idx is None else [*cells[1:], record[qv_idx].strip()]
            try:
                values = [known[t] if t in known else known.setdefault(t, Decimal(t)) for t in texts]
                valid = sum(values, Decimal(0)).is_finite() and min(values) >= 0  # NaN or infinity: so is the sum
            except InvalidOperation:
                valid = False
            if not valid:  # name the first bad value
                names = (*REQUIRED[1:], "quote_volume")
                values = [_number(path, line, name, text) for name, text in zip(names, texts, strict=False)]
            if times and open_time <= times[-1]:
                if open_time == times[-1]:
                    raise ReplayFileError(path, line, f"duplicate open_time {open_time}")
                raise ReplayFileError(
                    path, line, f"open_time {open_time} is before the previous {times[-1]} (unsorted)"
                )
            o, h, lo, c, _v = values[:5]
            if h < max(o, c, lo) or lo > min(o, c):
                raise ReplayFileError(path, line, "high/low do not contain open and close")
            times.append(open_time)
            rows.append(tuple(values))
            # decimals are capped at 8 below: once a column reached the cap, its texts need no look
            if price_dp < _MAX_DP:
                price_dp = max(price_dp, *(_decimals(t) for t in cells[1:5]))
            if qty_dp < _MAX_DP:
                qty_dp = max(qty_dp, _decimals(cells[5]))
    if not times:
        raise ReplayFileError(path, None, "no bars")
    return times, rows, min(price_dp, _MAX_DP), min(qty_dp, _MAX_DP)


def _number(path: Path, line: int, name: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ReplayFileError(path, line, f"{name} {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ReplayFileError(path, line, f"{name} {text!r} must be a finite, non-negative number")
    return value


def _split_symbol(symbol: str) -> tuple[str, str]:
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, "USDT"


class ReplayMarketSource:
    name = "replay"

    def __init__(
        self, directory: Path, *, spread_bps: float = 5.0, clock: Callable[[], datetime] | None = None
    ) -> None:
        directory = Path(directory)
        if not directory.is_dir():
            raise ReplayFileError(directory, None, "not a directory")
        files = sorted(p for p in directory.glob("*.csv") if p.is_file())
        if not files:
            raise ReplayFileError(directory, None, "no SYMBOL.csv files")
        self._spread = Decimal(str(spread_bps)) / Decimal(10_000)
        self._series: dict[str, _Series] = {}
        step_ms: int | None = None
        pending: list[tuple[str, list[int], list[tuple[Decimal, ...]], int, int]] = []
        # one datetime object per distinct time, shared by every symbol's bars (a year of 100
        # symbols is ~900k bars: each holding its own two datetimes would cost ~90 MB)
        times_of: dict[int, datetime] = {}
        for path in files:
            symbol = path.stem.upper()
            times, rows, price_dp, qty_dp = load_csv(path)
            if len(times) > 1:
                file_step = min(b - a for a, b in itertools.pairwise(times))
                if step_ms is None:
                    step_ms = file_step
                elif file_step != step_ms:
                    raise ReplayFileError(
                        path, None, f"bar spacing {file_step} ms differs from the other files' {step_ms} ms"
                    )
            pending.append((symbol, times, rows, price_dp, qty_dp))
            if step_ms is not None:  # bars are built file by file: the parsed rows of one file at a time
                for item in pending:
                    self._add_series(item, step_ms, times_of)
                pending = []
        step_ms = step_ms or 3_600_000
        for item in pending:
            self._add_series(item, step_ms, times_of)
        interval = _INTERVAL_BY_MS.get(step_ms)
        if interval is None:
            raise ReplayFileError(directory, None, f"bar spacing {step_ms} ms is not a Binance interval")
        self.interval = interval
        self._step = timedelta(milliseconds=step_ms)
        self._timeline = sorted({t for s in self._series.values() for t in s.times})
        first = self._timeline[0]
        start_at = first + 86_400_000 - step_ms  # a full day visible at the start when there is one
        self._pos = min(bisect.bisect_right(self._timeline, start_at) - 1, len(self._timeline) - 1)
        self._pos = max(self._pos, 0)
        self._lock = threading.Lock()
        self._clock = clock
        self._step_ms = step_ms

    def _add_series(
        self,
        item: tuple[str, list[int], list[tuple[Decimal, ...]], int, int],
        step_ms: int,
        times_of: dict[int, datetime],
    ) -> None:
        symbol, times, rows, price_dp, qty_dp = item
        interval = _INTERVAL_BY_MS.get(step_ms, "")  # not a Binance interval: refused once all files are read
        bars = []
        for open_ms, row in zip(times, rows, strict=True):
            o, h, lo, c, v = row[:5]
            opened = times_of.get(open_ms)
            if opened is None:
                opened = times_of[open_ms] = from_ms(open_ms)
            closed = times_of.get(-open_ms)  # close times under the negated key
            if closed is None:
                closed = times_of[-open_ms] = opened + timedelta(milliseconds=step_ms - 1)
            bars.append(
                Kline(
                    symbol=symbol,
                    interval=interval,
                    open_time=opened,
                    close_time=closed,
                    open=o,
                    high=h,
                    low=lo,
                    close=c,
                    volume=v,
                    quote_volume=row[5] if len(row) > 5 else v * c,
                )
            )
        self._series[symbol] = _Series.build(symbol, times, bars, price_dp, qty_dp)

    # ------------------------------------------------------------------------------ replay clock
    @property
    def symbols(self) -> list[str]:
        return sorted(self._series)

    @property
    def first_open(self) -> datetime:
        return from_ms(self._timeline[0])

    @property
    def last_open(self) -> datetime:
        return from_ms(self._timeline[-1])

    def _newest_ms(self) -> int:
        """Open time (ms) of the newest visible bar: the cursor, or the last bar closed at clock()."""
        if self._clock is None:
            return self._timeline[self._pos]
        return int(self._clock().timestamp() * 1000) - self._step_ms

    @property
    def cursor(self) -> datetime:
        """Open time of the newest visible bar."""
        return from_ms(self._newest_ms())

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._timeline) - 1

    def advance(self) -> bool:
        """Show the next bar; False when the files are exhausted (the replay stays at the end)."""
        with self._lock:
            if self._pos < len(self._timeline) - 1:
                self._pos += 1
                return True
            return False

    def _visible_end(self, symbol: str) -> tuple[_Series, int]:
        """The symbol's series and the index just past its newest visible bar."""
        series = self._series.get(symbol)
        if series is None:
            raise UnknownSymbolError(symbol)
        return series, bisect.bisect_right(series.times, self._newest_ms())

    # ------------------------------------------------------------------------------ MarketDataSource
    def symbol_rules(self) -> dict[str, SymbolRules]:
        out = {}
        for symbol, series in self._series.items():
            base, quote = _split_symbol(symbol)
            tick = Decimal(1).scaleb(-series.price_decimals)
            step = Decimal(1).scaleb(-series.qty_decimals)
            out[symbol] = SymbolRules(
                symbol=symbol,
                status=SymbolStatus.TRADING,
                base_asset=base,
                quote_asset=quote,
                tick_size=tick,
                min_price=tick,
                max_price=Decimal(0),
                step_size=step,
                min_qty=step,
                max_qty=Decimal(0),
                market_step_size=step,
                market_min_qty=Decimal(0),
                market_max_qty=Decimal(0),
                min_notional=MIN_NOTIONAL.get(quote, Decimal(5)),
                max_notional=Decimal(0),
                listed_at=series.bars[0].open_time,
            )
        return out

    def tickers_24h(self) -> dict[str, Ticker24h]:
        out = {}
        for symbol in self._series:
            series, end = self._visible_end(symbol)
            if end == 0:
                continue
            last = series.bars[end - 1]
            since_ms = int(last.close_time.timestamp() * 1000) - 86_400_000
            start = bisect.bisect_right(series.times, since_ms, 0, end)
            first = series.bars[start]
            change = (last.close / first.open - 1) * 100 if first.open > 0 else Decimal(0)
            high, low = series.extremes(start, end)
            with self._lock:
                volume, quote_volume, trades = series.sums(start, end)
            out[symbol] = Ticker24h(
                symbol=symbol,
                last_price=last.close,
                open_price=first.open,
                high_price=high,
                low_price=low,
                volume=volume,
                quote_volume=quote_volume,
                price_change_pct=change.quantize(Decimal("0.001")),
                trade_count=trades,
                close_time=last.close_time,
            )
        return out

    def _top(self, symbol: str) -> BookTop | None:
        series, end = self._visible_end(symbol)
        if end == 0:
            return None
        last = series.bars[end - 1]
        tick = Decimal(1).scaleb(-series.price_decimals)
        half = max(last.close * self._spread / 2, tick)
        qty = max(
            (last.volume / 50).quantize(Decimal(1).scaleb(-series.qty_decimals)),
            Decimal(1).scaleb(-series.qty_decimals),
        )
        return BookTop(
            symbol=symbol,
            bid_price=(last.close - half).quantize(tick),
            bid_qty=qty,
            ask_price=(last.close + half).quantize(tick),
            ask_qty=qty,
            time=last.close_time + timedelta(milliseconds=1),
        )

    def book_tops(self) -> dict[str, BookTop]:
        out = {}
        for symbol in self._series:
            top = self._top(symbol)
            if top is not None:
                out[symbol] = top
        return out

    def klines(
        self,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        series, stop = self._visible_end(symbol)
        if interval != self.interval:
            raise MarketDataError(f"replay files hold {self.interval} bars, {interval} was asked for")
        lo = 0 if start is None else bisect.bisect_left(series.times, int(start.timestamp() * 1000), 0, stop)
        if end is not None:
            stop = bisect.bisect_right(series.times, int(end.timestamp() * 1000), lo, stop)
        if start is not None:
            return series.bars[lo : min(stop, lo + limit)]
        return series.bars[max(lo, stop - limit) : stop]

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        top = self._top(symbol)
        if top is None:
            return OrderBook(symbol=symbol, bids=(), asks=(), time=self.server_time())
        tick = Decimal(1).scaleb(-self._series[symbol].price_decimals)
        gap = max((top.mid * Decimal("0.0002")).quantize(tick), tick)
        bids = tuple(
            BookLevel(top.bid_price - gap * k, top.bid_qty * (k + 1))
            for k in range(limit)
            if top.bid_price - gap * k > 0
        )
        asks = tuple(BookLevel(top.ask_price + gap * k, top.ask_qty * (k + 1)) for k in range(limit))
        return OrderBook(symbol=symbol, bids=bids, asks=asks, time=top.time)

    def server_time(self) -> datetime:
        if self._clock is not None:
            return self._clock()
        return from_ms(self._timeline[self._pos]) + self._step

    def close(self) -> None:
        return None
