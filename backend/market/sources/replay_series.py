"""One symbol of the replay source: its bars as columns, with what 24h windows need at any cursor.

Highs and lows are also kept per block of bars, so a window's extremes cost a few block maxima;
volume sums slide bar by bar as a backtest's clock moves (exact at ``_EXACT``'s precision, then
rounded once). `Kline` objects are made when first asked for (a run with --end sees only some).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal

from backend.market.sources.replay_files import Columns
from backend.market.types import Kline

_BLOCK = 32  # bars per block of the precomputed highs and lows (see Series.extremes)
_EXACT = Context(prec=80)  # window sums of the files' values are exact at this precision


@dataclass(slots=True)
class Series:
    symbol: str
    interval: str
    times: list[int]  # open times, ms
    opened: list[datetime]  # open times (shared by every symbol's bars at that time)
    closed: list[datetime]  # close times (open + step - 1 ms)
    open: list[Decimal]
    high: list[Decimal]
    low: list[Decimal]
    close: list[Decimal]
    volume: list[Decimal]
    quote_volume: list[Decimal]
    price_decimals: int
    qty_decimals: int
    block_highs: list[Decimal] = field(default_factory=list)
    block_lows: list[Decimal] = field(default_factory=list)
    # the sums of the last window asked for: (start, end, volume, quote volume)
    window: tuple[int, int, Decimal, Decimal] = (0, 0, Decimal(0), Decimal(0))
    bars: list[Kline | None] = field(default_factory=list)  # made on demand
    made: tuple[int, int] = (0, 0)  # a range of bars all made

    @classmethod
    def build(cls, symbol: str, interval: str, data: Columns, opened: list[datetime], closed: list[datetime]) -> Series:
        quote = data.quote_volume
        if quote is None:  # no quote_volume column: volume × close, as Binance's own figure roughly is
            quote = [v * c for v, c in zip(data.volume, data.close, strict=True)]
        blocks = range(0, len(data.times), _BLOCK)
        return cls(
            symbol,
            interval,
            data.times,
            opened,
            closed,
            data.open,
            data.high,
            data.low,
            data.close,
            data.volume,
            quote,
            data.price_decimals,
            data.qty_decimals,
            [max(data.high[i : i + _BLOCK]) for i in blocks],
            [min(data.low[i : i + _BLOCK]) for i in blocks],
            bars=[None] * len(data.times),
        )

    def __len__(self) -> int:
        return len(self.times)

    def klines(self, lo: int, hi: int) -> list[Kline]:
        """Bars [lo, hi) as Klines (each made once)."""
        bars = self.bars
        lo, hi = max(lo, 0), min(hi, len(bars))
        made = self.made
        if lo < hi and not (made[0] <= lo and hi <= made[1]):
            self.made = (min(lo, made[0]), max(hi, made[1])) if lo <= made[1] and made[0] <= hi else (lo, hi)
            for i in range(lo, hi):
                if bars[i] is None:
                    bars[i] = Kline(
                        symbol=self.symbol,
                        interval=self.interval,
                        open_time=self.opened[i],
                        close_time=self.closed[i],
                        open=self.open[i],
                        high=self.high[i],
                        low=self.low[i],
                        close=self.close[i],
                        volume=self.volume[i],
                        quote_volume=self.quote_volume[i],
                    )
        return bars[lo:hi]  # type: ignore[return-value]

    def sums(self, lo: int, hi: int) -> tuple[Decimal, Decimal, int]:
        """(volume, quote volume, trades) of bars [lo, hi), exact, then rounded once to the context."""
        start, end, volume, quote = self.window
        if start <= lo <= end <= hi and (lo - start) + (hi - end) < hi - lo:
            added, removed = range(end, hi), range(start, lo)  # slide the last window
        else:
            added, removed, volume, quote = range(lo, hi), range(0), Decimal(0), Decimal(0)
        volumes, quotes = self.volume, self.quote_volume
        for i in added:
            volume, quote = _EXACT.add(volume, volumes[i]), _EXACT.add(quote, quotes[i])
        for i in removed:
            volume = _EXACT.subtract(volume, volumes[i])
            quote = _EXACT.subtract(quote, quotes[i])
        self.window = (lo, hi, volume, quote)
        return +volume, +quote, 0  # the files have no trade counts

    def extremes(self, lo: int, hi: int) -> tuple[Decimal, Decimal]:
        """(highest high, lowest low) of bars [lo, hi) (hi > lo), whole blocks from the precomputed ones."""
        first_block, last_block = -(-lo // _BLOCK), hi // _BLOCK
        if first_block >= last_block:
            return max(self.high[lo:hi]), min(self.low[lo:hi])
        head, tail = slice(lo, first_block * _BLOCK), slice(last_block * _BLOCK, hi)
        high = max(self.block_highs[first_block:last_block])
        low = min(self.block_lows[first_block:last_block])
        if head.start < head.stop or tail.start < tail.stop:
            high = max(high, max(self.high[head] + self.high[tail]))
            low = min(low, min(self.low[head] + self.low[tail]))
        return high, low
