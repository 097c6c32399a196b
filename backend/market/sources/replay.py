"""The `replay` market source: recorded bars from ``QT_REPLAY_DIR/SYMBOL.csv``, one bar per refresh.

The files (format and checks in replay_files.py) must all have the same bar interval; a bad
directory refuses to start, naming the file, the line and the reason.

The replay clock starts one day after the first bar (so a 24h ticker window exists) and moves to
the next bar time on every `advance()` (the refresh job calls it). Given a ``clock`` instead (the
backtest's), the newest visible bar is the last one closed at ``clock()``: nothing later is seen.
Tickers and book tops are derived from the visible bars: a 24h window, and a synthetic spread of
``spread_bps`` around the last close. Rules are inferred: tick and step sizes from the decimals
the files use, the minimum order value from the quote asset (Binance's: 0.0001 BTC, 5 USDT).
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from backend.market.errors import MarketDataError, ReplayFileError, UnknownSymbolError
from backend.market.source import INTERVAL_SECONDS, from_ms
from backend.market.sources.replay_files import Columns, load_csv
from backend.market.sources.replay_series import Series
from backend.market.types import BookLevel, BookTop, Kline, OrderBook, SymbolRules, SymbolStatus, Ticker24h

# the quote assets a file's name may end with, the longest first (split_symbols reads a name)
_DOLLARS = ("USDT", "FDUSD", "USDC", "BUSD", "TUSD", "USDP", "DAI", "USD")
QUOTES = tuple(sorted((*_DOLLARS, "BTC", "ETH", "BNB", "EUR", "GBP", "TRY", "BRL"), key=len, reverse=True))
# Binance's minimum order value by quote asset (5 for the dollar stablecoins and anything else).
MIN_NOTIONAL = {"BTC": Decimal("0.0001"), "ETH": Decimal("0.001"), "BNB": Decimal("0.01")}
_INTERVAL_BY_MS = {seconds * 1000: name for name, seconds in INTERVAL_SECONDS.items()}
_PCT = Decimal("0.001")
_ONE_MS = timedelta(milliseconds=1)


def _readings(symbol: str) -> list[tuple[str, str]]:
    return [(symbol[: -len(q)], q) for q in QUOTES if symbol.endswith(q) and len(symbol) > len(q)]


def split_symbols(symbols: Iterable[str]) -> dict[str, tuple[str, str] | None]:
    """(base, quote) of each symbol, read from its name; None when it ends with no known quote.

    A name may read two ways (DOTUSD: DO/TUSD or DOT/USD; OPBUSD: OP/BUSD or OPB/USD). Each name's
    first guess is the longest quote leaving a base of at least three characters (else the longest:
    OP/USDT); then a name that can read as the quote most of the folder's first guesses have takes
    that one (a folder of BUSD pairs reads OPBUSD as OP/BUSD, one of USD pairs DOTUSD as DOT/USD).
    """
    readings = {symbol: _readings(symbol) for symbol in symbols}
    guesses = {s: next((r for r in found if len(r[0]) >= 3), found[0]) for s, found in readings.items() if found}
    counts = Counter(quote for _base, quote in guesses.values())
    return {
        s: max(found, key=lambda r: (counts[r[1]], r == guesses[s])) if found else None for s, found in readings.items()
    }


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
        self._series: dict[str, Series] = {}
        step_ms: int | None = None
        pending: list[tuple[str, Columns]] = []
        # one datetime object per distinct time, shared by every symbol's bars (a year of 100
        # symbols is ~900k bars: each holding its own two datetimes would cost ~90 MB)
        times_of: dict[int, datetime] = {}
        # checked before anything is read: the rules name each symbol's quote asset
        self._assets = split_symbols(p.stem.upper() for p in files)
        for path in files:
            if self._assets[path.stem.upper()] is None:
                raise ReplayFileError(
                    path, None, f"{path.stem.upper()} ends with no known quote asset ({', '.join(sorted(QUOTES))})"
                )
        for path in files:
            symbol = path.stem.upper()
            data = load_csv(path)
            times = data.times
            if len(times) > 1:
                file_step = min(b - a for a, b in itertools.pairwise(times))
                if step_ms is None:
                    step_ms = file_step
                elif file_step != step_ms:
                    raise ReplayFileError(
                        path, None, f"bar spacing {file_step} ms differs from the other files' {step_ms} ms"
                    )
            pending.append((symbol, data))
            if step_ms is not None:  # series are built file by file: the parsed columns of one file at a time
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
        self._rules: dict[str, SymbolRules] | None = None  # the files' rules never change: built once
        self._tops: dict[str, tuple[int, BookTop]] = {}  # per symbol: the last top and its bar

    def _add_series(self, item: tuple[str, Columns], step_ms: int, times_of: dict[int, datetime]) -> None:
        symbol, data = item
        interval = _INTERVAL_BY_MS.get(step_ms, "")  # not a Binance interval: refused once all files are read
        opened, closed = [], []
        last = timedelta(milliseconds=step_ms - 1)
        for open_ms in data.times:
            opens = times_of.get(open_ms)
            if opens is None:
                opens = times_of[open_ms] = from_ms(open_ms)
            closes = times_of.get(-open_ms)  # close times under the negated key
            if closes is None:
                closes = times_of[-open_ms] = opens + last
            opened.append(opens)
            closed.append(closes)
        self._series[symbol] = Series.build(symbol, interval, data, opened, closed)

    # ------------------------------------------------------------------------------ replay clock
    @property
    def symbols(self) -> list[str]:
        return sorted(self._series)

    def bar_times(self, symbol: str) -> list[int]:
        """Open times (epoch ms, oldest first) of the symbol's bars in its file (read-only)."""
        try:
            return self._series[symbol].times
        except KeyError:
            raise UnknownSymbolError(symbol) from None

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

    def _visible_end(self, symbol: str) -> tuple[Series, int]:
        """The symbol's series and the index just past its newest visible bar."""
        series = self._series.get(symbol)
        if series is None:
            raise UnknownSymbolError(symbol)
        return series, bisect.bisect_right(series.times, self._newest_ms())

    # ------------------------------------------------------------------------------ MarketDataSource
    def symbol_rules(self) -> dict[str, SymbolRules]:
        if self._rules is None:
            self._rules = self._build_rules()
        return dict(self._rules)

    def _build_rules(self) -> dict[str, SymbolRules]:
        out = {}
        for symbol, series in self._series.items():
            base, quote = self._assets[symbol] or (symbol, "")  # every file's name was checked
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
                listed_at=series.opened[0],
            )
        return out

    def tickers_24h(self) -> dict[str, Ticker24h]:
        out = {}
        for symbol in self._series:
            series, end = self._visible_end(symbol)
            if end == 0:
                continue
            close_time, last_price = series.closed[end - 1], series.close[end - 1]
            since_ms = int(close_time.timestamp() * 1000) - 86_400_000
            start = bisect.bisect_right(series.times, since_ms, 0, end)
            open_price = series.open[start]
            change = (last_price / open_price - 1) * 100 if open_price > 0 else Decimal(0)
            high, low = series.extremes(start, end)
            with self._lock:
                volume, quote_volume, trades = series.sums(start, end)
            out[symbol] = Ticker24h(
                symbol=symbol,
                last_price=last_price,
                open_price=open_price,
                high_price=high,
                low_price=low,
                volume=volume,
                quote_volume=quote_volume,
                price_change_pct=change.quantize(_PCT),
                trade_count=trades,
                close_time=close_time,
            )
        return out

    def _top(self, symbol: str) -> BookTop | None:
        series, end = self._visible_end(symbol)
        if end == 0:
            return None
        cached = self._tops.get(symbol)
        if cached is not None and cached[0] == end:  # book_tops and order_book ask at the same bar
            return cached[1]
        close = series.close[end - 1]
        tick = Decimal(1).scaleb(-series.price_decimals)
        half = max(close * self._spread / 2, tick)
        unit = Decimal(1).scaleb(-series.qty_decimals)
        qty = max((series.volume[end - 1] / 50).quantize(unit), unit)
        top = BookTop(
            symbol=symbol,
            bid_price=(close - half).quantize(tick),
            bid_qty=qty,
            ask_price=(close + half).quantize(tick),
            ask_qty=qty,
            time=series.closed[end - 1] + _ONE_MS,
        )
        self._tops[symbol] = (end, top)
        return top

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
            return series.klines(lo, min(stop, lo + limit))
        return series.klines(max(lo, stop - limit), stop)

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        top = self._top(symbol)
        if top is None:
            return OrderBook(symbol=symbol, bids=(), asks=(), time=self.server_time())
        tick = Decimal(1).scaleb(-self._series[symbol].price_decimals)
        gap = max((top.mid * Decimal("0.0002")).quantize(tick), tick)
        bids = []
        for k in range(limit):
            price = top.bid_price - gap * k
            if price > 0:
                bids.append(BookLevel(price, top.bid_qty * (k + 1)))
        asks = tuple(BookLevel(top.ask_price + gap * k, top.ask_qty * (k + 1)) for k in range(limit))
        return OrderBook(symbol=symbol, bids=tuple(bids), asks=asks, time=top.time)

    def server_time(self) -> datetime:
        if self._clock is not None:
            return self._clock()
        return from_ms(self._timeline[self._pos]) + self._step

    def close(self) -> None:
        return None
