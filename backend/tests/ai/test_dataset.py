"""Dataset: warm-up dropped, time-ordered, labels aligned, data problems refused with a clear message."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ai_engine.dataset import DataError, build_dataset, load_bars
from ai_engine.features import FEATURE_NAMES, WARMUP_BARS, compute_features
from ai_engine.labels import make_labels
from backend.market.types import Kline
from backend.tests.ai.factories import START, klines_of, random_walk_bars


def test_rows_are_time_ordered_past_the_warm_up_with_labels_aligned() -> None:
    bars = random_walk_bars(n_symbols=3, n_bars=300, seed=2)
    ds = build_dataset(bars, horizon=4, threshold=0.004)
    assert len(ds) == (300 - WARMUP_BARS - 4) * 3
    assert list(ds.features.columns) == list(FEATURE_NAMES)
    assert (np.diff(ds.times.astype("int64")) >= 0).all()
    assert ds.times.min() == bars.times[WARMUP_BARS].tz_convert(None).to_datetime64()
    labels, fwd = make_labels(bars.close, 4, 0.004)
    features = compute_features(bars)
    for k in (0, 17, len(ds) - 1):
        i = bars.times.get_loc(pd.Timestamp(ds.times[k], tz="UTC"))
        j = bars.symbols.index(ds.symbols[k])
        assert ds.labels[k] == labels[i, j]
        assert ds.forward_returns[k] == fwd[i, j]
        np.testing.assert_array_equal(ds.features.iloc[k].to_numpy(), features.loc[(bars.times[i], ds.symbols[k])])
    assert ds.description["rows"] == len(ds)
    assert sum(ds.class_counts().values()) == len(ds)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda b: dataclasses.replace(b, close=np.where(np.arange(len(b.times))[:, None] == 5, -1.0, b.close)),
            "close",
        ),
        (lambda b: dataclasses.replace(b, volume=b.volume * -1), "volume"),
        (lambda b: dataclasses.replace(b, high=b.low * 0.5), "high < low"),
    ],
)
def test_broken_bars_are_refused(mutate: object, message: str) -> None:
    bars = mutate(random_walk_bars(n_symbols=2, n_bars=300))  # type: ignore[operator]
    with pytest.raises(DataError, match=message):
        build_dataset(bars, horizon=4, threshold=0.004)


def test_too_little_history_is_a_data_error_naming_what_is_needed() -> None:
    bars = random_walk_bars(n_symbols=2, n_bars=WARMUP_BARS + 4)
    with pytest.raises(DataError, match="ask for more days"):
        build_dataset(bars, horizon=4, threshold=0.004)


def test_a_threshold_no_move_reaches_is_a_data_error() -> None:
    bars = random_walk_bars(n_symbols=2, n_bars=400, vol=0.0001)
    with pytest.raises(DataError, match="lack the classes"):
        build_dataset(bars, horizon=1, threshold=0.5)


class _Source:
    def __init__(self, klines: dict[str, list[Kline]], broken: str | None = None) -> None:
        self._klines = klines
        self._broken = broken
        self.calls: list[tuple[str, str]] = []

    def klines(self, symbol: str, interval: str, start: datetime, end: datetime) -> list[Kline]:
        self.calls.append((symbol, interval))
        if symbol == self._broken:
            raise ConnectionError("connection refused")
        return [k for k in self._klines.get(symbol, []) if start <= k.open_time <= end]


def test_load_bars_reads_every_symbol_from_the_source() -> None:
    bars = random_walk_bars(n_symbols=2, n_bars=200)
    source = _Source(klines_of(bars))
    loaded = load_bars(source, list(bars.symbols), "1h", START, START + timedelta(days=30))
    assert loaded.symbols == bars.symbols
    np.testing.assert_allclose(loaded.close, bars.close, rtol=1e-7)


@pytest.mark.parametrize(
    ("symbols", "broken", "message"),
    [
        (["S000USDT", "NOPEUSDT"], None, "no 1h klines for NOPEUSDT"),
        (["S000USDT", "S001USDT"], "S001USDT", "could not load 1h klines of S001USDT: ConnectionError"),
        ([], None, "no symbols"),
    ],
)
def test_load_bars_fails_clearly_and_never_invents_data(symbols: list[str], broken: str | None, message: str) -> None:
    source = _Source(klines_of(random_walk_bars(n_symbols=2, n_bars=50)), broken=broken)
    with pytest.raises(DataError, match=message):
        load_bars(source, symbols, "1h", START, START + timedelta(days=30))
