"""Features: no look-ahead, scale-free, one named list, the same values from klines and frames."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ai_engine.features import (
    FEATURE_NAMES,
    FEATURE_VERSION,
    WARMUP_BARS,
    Bars,
    bars_from_frame,
    bars_from_klines,
    compute_features,
    compute_features_wide,
    latest_features,
)
from backend.tests.ai.factories import klines_of, random_walk_bars

BARS = random_walk_bars(n_symbols=4, n_bars=300, seed=3)


def _perturb_after(bars: Bars, t: int, rng: np.random.Generator) -> Bars:
    """Every bar after row t replaced by different (still valid) values."""

    def scramble(values: np.ndarray) -> np.ndarray:
        out = values.copy()
        out[t + 1 :] *= np.exp(rng.normal(0, 0.2, size=out[t + 1 :].shape))
        return out

    close = scramble(bars.close)
    open_ = scramble(bars.open)
    high = np.maximum(np.maximum(open_, close), scramble(bars.high))
    low = np.minimum(np.minimum(open_, close), scramble(bars.low))
    return dataclasses.replace(bars, open=open_, high=high, low=low, close=close, volume=scramble(bars.volume))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=st.integers(min_value=0, max_value=298), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_perturbing_bars_after_t_never_changes_features_at_or_before_t(t: int, seed: int) -> None:
    sentiment = pd.Series(np.linspace(0, 1, 50), index=pd.date_range(BARS.times[0], periods=50, freq="6h"))
    before = compute_features_wide(BARS, sentiment)
    changed_sentiment = sentiment.copy()
    close_t = BARS.times[t] + pd.Timedelta(hours=1)
    changed_sentiment[changed_sentiment.index > close_t] = -5.0
    after = compute_features_wide(_perturb_after(BARS, t, np.random.default_rng(seed)), changed_sentiment)
    for name in FEATURE_NAMES:
        np.testing.assert_array_equal(before[name][: t + 1], after[name][: t + 1], err_msg=name)


def test_perturbation_does_change_later_features() -> None:
    # the no-look-ahead test must be able to fail: later rows do move
    before = compute_features_wide(BARS)
    after = compute_features_wide(_perturb_after(BARS, 150, np.random.default_rng(0)))
    assert not np.allclose(before["ret_1"][151:], after["ret_1"][151:], equal_nan=True)


def test_features_are_scale_free() -> None:
    scaled = dataclasses.replace(
        BARS,
        open=BARS.open * 1234.5,
        high=BARS.high * 1234.5,
        low=BARS.low * 1234.5,
        close=BARS.close * 1234.5,
        volume=BARS.volume * 0.001,
    )
    a, b = compute_features_wide(BARS), compute_features_wide(scaled)
    for name in FEATURE_NAMES:
        if name.startswith("volume_z"):
            continue  # log1p(volume) is only approximately scale-free at small volumes
        np.testing.assert_allclose(a[name], b[name], rtol=1e-7, atol=1e-10, err_msg=name)


def test_feature_list_is_named_versioned_and_has_no_levels_or_time() -> None:
    assert FEATURE_VERSION
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    for forbidden in ("open", "high", "low", "close", "volume", "time", "timestamp", "hour"):
        assert forbidden not in FEATURE_NAMES


def test_warm_up_rows_are_dropped_and_rows_are_time_ordered() -> None:
    frame = compute_features(BARS)
    assert list(frame.columns) == list(FEATURE_NAMES)
    assert len(frame) == (300 - WARMUP_BARS) * 4
    times = frame.index.get_level_values("open_time")
    assert times.is_monotonic_increasing
    assert times.min() == BARS.times[WARMUP_BARS]
    core = frame.drop(columns=["sentiment"])
    assert not core.isna().any().any()


def test_klines_and_long_frame_give_the_same_bars() -> None:
    from_klines = bars_from_klines(klines_of(BARS))
    rows = []
    for j, symbol in enumerate(BARS.symbols):
        for i, t in enumerate(BARS.times):
            rows.append(
                (symbol, t, BARS.open[i, j], BARS.high[i, j], BARS.low[i, j], BARS.close[i, j], BARS.volume[i, j])
            )
    frame = pd.DataFrame(rows, columns=["symbol", "open_time", "open", "high", "low", "close", "volume"])
    from_frame = bars_from_frame(frame.sample(frac=1, random_state=0), "1h")
    assert from_klines.symbols == from_frame.symbols == BARS.symbols
    assert from_klines.times.equals(from_frame.times)
    np.testing.assert_allclose(from_klines.close, from_frame.close, rtol=1e-9)


def test_symbols_with_different_histories_are_aligned_on_time() -> None:
    klines = klines_of(BARS)
    short = BARS.symbols[0]
    klines[short] = klines[short][100:]  # listed later
    bars = bars_from_klines(klines)
    assert len(bars.times) == 300
    assert np.isnan(bars.close[:100, 0]).all()
    assert bars.bar_counts()[299].tolist() == [200, 300, 300, 300]


def test_latest_features_score_each_symbols_newest_bar() -> None:
    latest = latest_features(BARS)
    full = compute_features(BARS)
    last_time = BARS.times[-1]
    expected = full.xs(last_time, level="open_time")
    pd.testing.assert_frame_equal(latest, expected.rename_axis("symbol"), check_names=False)


@pytest.mark.parametrize(("n_bars", "scored"), [(WARMUP_BARS - 1, 0), (WARMUP_BARS, 4)])
def test_symbols_without_enough_history_are_not_scored(n_bars: int, scored: int) -> None:
    bars = random_walk_bars(n_symbols=4, n_bars=n_bars, seed=5)
    assert len(latest_features(bars)) == scored


def test_sentiment_is_joined_as_of_the_bar_close_never_later() -> None:
    bars = random_walk_bars(n_symbols=1, n_bars=5, seed=1)
    t0 = bars.times[0]
    sentiment = pd.Series(
        [0.1, 0.2, 0.3],
        index=[t0 + pd.Timedelta(minutes=30), t0 + pd.Timedelta(hours=2), t0 + pd.Timedelta(hours=2, minutes=1)],
    )
    values = compute_features_wide(bars, sentiment)["sentiment"][:, 0]
    # bar 0 closes at t0+1h: sees 0.1; bar 1 closes at t0+2h: sees 0.2 (published exactly then);
    # bar 2 closes at t0+3h: sees 0.3
    np.testing.assert_array_equal(values, [0.1, 0.2, 0.3, 0.3, 0.3])
    before_any = compute_features_wide(bars, pd.Series([0.9], index=[t0 + pd.Timedelta(hours=10)]))["sentiment"]
    assert np.isnan(before_any).all()


@pytest.mark.parametrize("seed", [1, 2])
def test_latest_rows_equal_the_full_computation(seed: int) -> None:
    # The scoring path computes only each symbol's newest row, in numpy over all symbols at once;
    # it must give the training path's features (short histories and gaps included).
    from ai_engine.latest import latest_features_fast

    bars = random_walk_bars(n_symbols=6, n_bars=300, seed=seed)
    close = bars.close.copy()
    close[:60, 1] = np.nan  # a shorter history
    close[150:153, 2] = np.nan  # a gap
    close[-30:-27, 3] = np.nan  # a gap inside the newest windows

    def masked(values: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(close), np.nan, values)

    gappy = Bars(
        "1h",
        bars.times,
        bars.symbols,
        masked(bars.open),
        masked(bars.high),
        masked(bars.low),
        close,
        masked(bars.volume),
    )
    sentiment = pd.Series([0.4, 0.6], index=pd.DatetimeIndex([bars.times[10], bars.times[200]]))
    for case in (bars, gappy):
        full = latest_features(case, sentiment)
        fast = latest_features_fast(case, sentiment)
        assert list(fast.index) == list(full.index)
        assert list(fast.columns) == list(full.columns)
        np.testing.assert_array_equal(np.isnan(fast.to_numpy()), np.isnan(full.to_numpy()))
        np.testing.assert_allclose(fast.to_numpy(), full.to_numpy(), rtol=1e-9, atol=1e-12)
