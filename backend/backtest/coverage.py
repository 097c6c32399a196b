"""What the data of a run leaves out: symbols whose bars start late, end early or miss bars inside the range.

A recorded market has holes (an exchange outage, a symbol listed or delisted mid-range). The run
trades through them exactly as the live service would — a held symbol without a new bar is valued
at its last close, and the risk guard refuses its orders once that price is older than its
staleness limit — so a hole changes results silently unless it is said. Each hole becomes one
line in metrics.json's ``warnings``, the report and the CLI's output. Sources without holes (the
simulated market) have no ``bar_times`` and give none.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from backend.backtest.data import BacktestData
from backend.market.source import from_ms, to_ms

# what the live service does with a symbol whose bars stop: the source keeps showing its last bar
STALE = (
    "valued at its last close (and still selectable), and the risk guard refuses its orders once that"
    " price is older than QT_MAX_PRICE_STALENESS_SECONDS"
)


def _at(ms: int) -> str:
    return from_ms(ms).isoformat().replace("+00:00", "Z")


def _span(ms: int) -> str:
    minutes = ms // 60_000
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h" if minutes < 2_880 else f"{minutes / 1_440:.1f} days"


def coverage_warnings(data: BacktestData, times: Sequence[datetime], symbols: Sequence[str]) -> list[str]:
    """One line per symbol whose bars do not cover the bars the run trades on (``times`` are the
    run's visits, bar closes: the bar each one sees opened a step before)."""
    bar_times = getattr(data.source, "bar_times", None)
    if bar_times is None or not times:
        return []
    step = int(data.step / timedelta(milliseconds=1))
    first, last = to_ms(times[0]) - step, to_ms(times[-1]) - step
    wanted = (last - first) // step + 1
    out: list[str] = []
    for symbol in symbols:
        own = bar_times(symbol)
        lo, hi = bisect.bisect_left(own, first), bisect.bisect_right(own, last)
        inside = own[lo:hi]
        before = own[lo - 1] if lo > 0 else None  # the last bar before the range: what it shows meanwhile
        if not inside:
            if before is None:
                out.append(f"{symbol}: no bar between {_at(first)} and {_at(last)}: never traded nor valued")
            else:
                out.append(
                    f"{symbol}: no bar between {_at(first)} and {_at(last)}, its last opens at {_at(before)}:"
                    f" through the range it is {STALE}"
                )
            continue
        if inside[0] > first:
            late = f"{symbol}: its first bar in the range opens at {_at(inside[0])}, {_span(inside[0] - first)}"
            if before is None:
                out.append(f"{late} after the run's first ({_at(first)}): not tradable before")
            else:
                out.append(f"{late} after the run's first, its last before at {_at(before)}: until then it is {STALE}")
        if inside[-1] < last:
            out.append(
                f"{symbol}: its last bar opens at {_at(inside[-1])}, {_span(last - inside[-1])} before the run's"
                f" last ({_at(last)}): after it, it is {STALE}"
            )
        missing = (inside[-1] - inside[0]) // step + 1 - len(inside)
        if missing > 0:
            gap, after = max((b - a, a) for a, b in itertools.pairwise(inside))
            out.append(
                f"{symbol}: {missing:,} of {wanted:,} bars missing inside the range (the longest gap"
                f" {_span(gap - step)} from {_at(after + step)}): through a gap it is {STALE}"
            )
    return out
