"""A one-symbol recorded market for resting-order tests: bars that only go up, with chosen dips."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from backend.tests.backtest.factories import START

HOUR = timedelta(hours=1)
SYMBOL = "AAAUSDT"


def write_trend(
    folder: Path, *, drift: float = 0.002, dips: dict[int, float] | None = None, step: timedelta = HOUR
) -> Path:
    """Bars of SYMBOL from START, each closing ``drift`` above its open with its low at the open (a
    resting buy at the best bid is never traded through, and the book, around the closes, never
    comes back to it), except bar ``i`` of ``dips``, whose low is that fraction of its open."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["open_time,open,high,low,close,volume"]
    price = 10.0
    step_ms = int(step.total_seconds() * 1000)
    for i in range(timedelta(days=1) // step + 48):
        close = price * (1 + drift)
        low = price * (dips or {}).get(i, 1.0)
        open_ms = int(START.timestamp() * 1000) + i * step_ms
        lines.append(f"{open_ms},{price:.4f},{close:.4f},{low:.4f},{close:.4f},100000.00")
        price = close
    (folder / f"{SYMBOL}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
