"""The scoring path's shortcuts for aligned windows give the general path's features bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ai_engine.latest as latest
from ai_engine.features import Bars
from ai_engine.predictor import Predictor
from ai_engine.registry import ModelRegistry
from backend.tests.ai.conftest import TrainFn
from backend.tests.ai.factories import klines_of, random_walk_bars
from config.runtime import SettingsHolder
from config.settings import Settings


def _bits(a: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(a), 0.0, a).view(np.int64)


@pytest.mark.parametrize(("k", "alpha", "min_periods"), [(0, 1 / 14, 14), (1, 1 / 14, 14), (25, 0.2, 9), (3, 0.5, 0)])
def test_an_ewm_of_columns_starting_together_is_the_general_ewm(k: int, alpha: float, min_periods: int) -> None:
    rng = np.random.default_rng(k)
    x = np.cumsum(rng.standard_normal((200, 30)), axis=0) + 100
    x[:k] = np.nan
    odd = x[:, :1].copy()
    odd[k + 5] = np.nan  # a gap: this column (and so the whole call) takes the general path
    calls: list[int] = []
    real = latest._ewm_aligned
    try:
        latest._ewm_aligned = lambda *a: calls.append(1) or real(*a)  # type: ignore[assignment]
        fast = latest._ewm(x, alpha, min_periods)
        general = latest._ewm(np.hstack([x, odd]), alpha, min_periods)[:, :30]
    finally:
        latest._ewm_aligned = real  # type: ignore[assignment]
    assert calls == [1]  # the shortcut was taken for the aligned columns only
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(general))
    np.testing.assert_array_equal(_bits(fast), _bits(general))


def test_features_of_symbols_at_the_same_bar_are_the_general_paths_bit_for_bit() -> None:
    bars = random_walk_bars(n_symbols=8, n_bars=200, seed=5)
    late = bars.close.copy()
    late[-1, -1] = np.nan  # one symbol a bar behind: the newest rows differ, the general path

    def masked(values: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(late), np.nan, values)

    behind = Bars(
        "1h",
        bars.times,
        bars.symbols,
        *(masked(getattr(bars, n)) for n in ("open", "high", "low")),
        late,
        masked(bars.volume),
    )
    sentiment = pd.Series([0.3], index=pd.DatetimeIndex([bars.times[50]]))
    windows: list[object] = []
    real = latest._window
    try:
        latest._window = lambda values, rows, *a: windows.append(rows) or real(values, rows, *a)  # type: ignore[assignment]
        fast = latest.latest_features_fast(bars, sentiment)
        assert all(rows is None for rows in windows)  # the slices were taken
        windows.clear()
        general = latest.latest_features_fast(behind, sentiment)
        assert all(rows is not None for rows in windows)
    finally:
        latest._window = real  # type: ignore[assignment]
    same = list(bars.symbols[:-1])
    np.testing.assert_array_equal(_bits(fast.loc[same].to_numpy()), _bits(general.loc[same].to_numpy()))
    np.testing.assert_array_equal(np.isnan(fast.loc[same].to_numpy()), np.isnan(general.loc[same].to_numpy()))


def test_the_predictor_scores_the_feature_rows_as_it_scores_the_frame(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    train_model()
    predictor = Predictor(registry, SettingsHolder(ai_settings))
    predictor.reload()
    model = predictor.state().model
    assert model is not None
    bars = random_walk_bars(n_symbols=12, n_bars=200, seed=9)
    symbols, rows = latest.latest_feature_rows(bars)
    frame = latest.latest_features_fast(bars)
    assert symbols == frame.index.tolist()
    np.testing.assert_array_equal(_bits(rows), _bits(frame.to_numpy()))
    from_rows, counts = Predictor._score_rows(model, symbols, rows.astype(np.float32))
    from_frame, frame_counts = Predictor._score(model, frame)
    assert from_rows == from_frame  # the same probabilities, bit for bit
    np.testing.assert_array_equal(counts, frame_counts)
    assert predictor.predict(klines_of(bars)) == from_frame  # and predict() goes through the rows
