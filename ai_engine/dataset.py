"""Dataset: features and labels of many symbols, time-ordered, warm-up dropped, checked for problems.

The rows are ordered by bar time (then symbol), so any split on time is a walk-forward split; the
evaluation keeps a purge gap of at least the horizon between training and test windows.
A data problem raises DataError with a message saying what is wrong; nothing is ever invented.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ai_engine.features import (
    FEATURE_NAMES,
    WARMUP_BARS,
    Bars,
    bars_from_klines,
    compute_features_wide,
    interval_delta,
    stack_features,
)
from ai_engine.labels import NO_LABEL, make_labels
from ai_engine.signal import CLASSES
from backend.market.types import Kline


class DataError(ValueError):
    """The data cannot be trained on (missing, too short, broken); the message says why."""


class KlineSource(Protocol):
    def klines(self, symbol: str, interval: str, start: datetime, end: datetime) -> list[Kline]: ...


@dataclass(frozen=True)
class Dataset:
    features: pd.DataFrame  # FEATURE_NAMES columns, RangeIndex, rows ordered by (time, symbol)
    labels: np.ndarray  # class codes (positions in CLASSES)
    forward_returns: np.ndarray
    times: np.ndarray  # datetime64[ns] bar open times (UTC)
    symbols: np.ndarray
    interval: str
    horizon: int
    description: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(CLASSES))
        return {action.value: int(n) for action, n in zip(CLASSES, counts, strict=True)}


def check_bars(bars: Bars) -> None:
    """Refuse broken bars: non-positive or non-finite prices, high below low, negative volume."""
    present = bars.present
    if not present.any():
        raise DataError("no bars at all")
    for name in ("open", "high", "low", "close"):
        values = getattr(bars, name)[present]
        if not np.isfinite(values).all() or (values <= 0).any():
            bad = [s for j, s in enumerate(bars.symbols) if (~(getattr(bars, name)[present[:, j], j] > 0)).any()]
            raise DataError(f"non-positive or missing {name} prices for {', '.join(bad[:5])}")
    with np.errstate(invalid="ignore"):
        broken = present & ((bars.high < bars.low) | (bars.volume < 0) | np.isnan(bars.volume))
    if broken.any():
        bad = sorted({bars.symbols[j] for j in np.nonzero(broken)[1]})
        raise DataError(f"bars with high < low or a negative/missing volume for {', '.join(bad[:5])}")


def _spell(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def check_spacing(bars: Bars) -> None:
    """Refuse bars whose spacing is not the interval they are said to be: every symbol's most common
    step between bars must be exactly one interval, and no step may be shorter or a non-multiple of it.
    (5-minute files trained as "1h" would make a 4-bar horizon 20 minutes.) Longer steps that are
    whole multiples are gaps and allowed."""
    step_ns = int(interval_delta(bars.interval).total_seconds() * 1e9)
    stamps = bars.times.asi8
    for j, symbol in enumerate(bars.symbols):
        steps = np.diff(stamps[bars.present[:, j]])
        if len(steps) == 0:
            continue
        values, counts = np.unique(steps, return_counts=True)
        common = int(values[np.argmax(counts)])
        odd = steps[(steps < step_ns) | (steps % step_ns != 0)]
        if common != step_ns or len(odd):
            seen = _spell(common / 1e9) if common != step_ns else _spell(int(odd[0]) / 1e9)
            raise DataError(
                f"{symbol}: bars are {seen} apart, not {bars.interval}: train with --interval {seen} "
                f"(or give {bars.interval} data)"
            )


def build_dataset(
    bars: Bars,
    *,
    horizon: int,
    threshold: float,
    vol_scaled: bool = False,
    sentiment: pd.Series | None = None,
    min_rows: int = 200,
    description: dict[str, Any] | None = None,
) -> Dataset:
    """Features + labels for every bar past the warm-up whose forward return is known."""
    check_bars(bars)
    check_spacing(bars)
    counts = bars.bar_counts()
    short = [s for j, s in enumerate(bars.symbols) if counts[:, j].max() <= WARMUP_BARS + horizon]
    if len(short) == len(bars.symbols):
        raise DataError(
            f"every symbol has at most {WARMUP_BARS + horizon} bars; at least {WARMUP_BARS + horizon + 1} "
            "are needed (warm-up + horizon): ask for more days"
        )
    wide = compute_features_wide(bars, sentiment)
    labels, fwd = make_labels(bars.close, horizon, threshold, vol_scaled=vol_scaled)
    keep = bars.present & (counts > WARMUP_BARS) & (labels != NO_LABEL)
    rows, cols = np.nonzero(keep)  # row-major: time-ordered, then symbol
    if len(rows) < min_rows:
        raise DataError(f"only {len(rows)} labelled rows after warm-up; at least {min_rows} are needed")
    features = pd.DataFrame(stack_features(wide, keep), columns=list(FEATURE_NAMES), copy=False)
    y = labels[rows, cols].astype(np.int64)
    present_classes = set(np.unique(y).tolist())
    if len(present_classes) < len(CLASSES):
        missing = [CLASSES[c].value for c in range(len(CLASSES)) if c not in present_classes]
        raise DataError(
            f"labels lack the classes {missing} (threshold {threshold} vs the data's moves): "
            "adjust QT_MODEL_LABEL_THRESHOLD or use more data"
        )
    times = bars.times.asi8[rows].view("datetime64[ns]")  # UTC
    symbols = np.asarray(bars.symbols, dtype=object)[cols]
    desc = dict(description or {})
    desc.update(
        {
            "interval": bars.interval,
            "symbols": list(bars.symbols),
            "start": str(bars.times[0]),
            "end": str(bars.times[-1]),
            "bars": int(bars.present.sum()),
            "rows": len(y),
            "warmup_bars": WARMUP_BARS,
            "horizon_bars": horizon,
            "label_threshold": threshold,
            "label_vol_scaled": vol_scaled,
            "short_symbols": short,
            "sentiment": sentiment is not None and len(sentiment) > 0,
        }
    )
    dataset = Dataset(features, y, fwd[rows, cols], times, symbols, bars.interval, horizon, desc)
    dataset.description["class_counts"] = dataset.class_counts()
    return dataset


Progress = Callable[[str], None]


def load_bars(
    source: KlineSource,
    symbols: Sequence[str],
    interval: str,
    start: datetime,
    end: datetime,
    *,
    progress: Progress | None = None,
) -> Bars:
    """Fetch klines of every symbol from a market source; a symbol without data is a DataError."""
    if not symbols:
        raise DataError("no symbols to train on")
    klines: dict[str, list[Kline]] = {}
    for i, symbol in enumerate(symbols, 1):
        try:
            ks = source.klines(symbol, interval, start, end)
        except Exception as exc:
            raise DataError(f"could not load {interval} klines of {symbol}: {type(exc).__name__}: {exc}") from exc
        if not ks:
            raise DataError(
                f"no {interval} klines for {symbol} between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M}"
            )
        klines[symbol] = ks
        if progress is not None:
            progress(f"loaded {len(ks)} bars of {symbol} ({i}/{len(symbols)})")
    return bars_from_klines(klines, interval)
