"""Shadowing scores champion and challenger with the sentiment reading the live predictor is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ai_engine.booster import BoosterParams, fit_booster
from ai_engine.features import FEATURE_NAMES
from ai_engine.registry import LoadedModel
from ai_engine.shadow import score_new_bars
from ai_engine.signal import CLASSES, Action
from backend.tests.ai.factories import klines_of, random_walk_bars


def _model_of_the_mood() -> LoadedModel:
    """A model that buys when the sentiment feature is above one half and sells below it."""
    rng = np.random.default_rng(3)
    features = rng.standard_normal((600, len(FEATURE_NAMES)))
    mood = rng.random(600)
    features[:, FEATURE_NAMES.index("sentiment")] = mood
    labels = np.where(mood > 0.5, CLASSES.index(Action.BUY), CLASSES.index(Action.SELL))
    booster = fit_booster(features, labels, BoosterParams(rounds=5, threads=1, min_child_weight=1.0))
    when = datetime(2024, 1, 1, tzinfo=UTC)
    return LoadedModel("mood", booster, {"interval": "1h"}, when, "0" * 64, Path("unused"))


def test_a_shadowed_bar_is_scored_with_the_sentiment_the_live_predictor_is_given() -> None:
    # the shadow left sentiment out for both models, so a challenger that learned from it was
    # compared on features it is never served with
    bars = random_walk_bars(n_symbols=2, n_bars=120, seed=4)
    klines = klines_of(bars)
    after = bars.times[100].to_pydatetime()
    now = bars.times[-1].to_pydatetime() + timedelta(hours=1)
    model = _model_of_the_mood()

    def actions(reading: float | None) -> set[Action]:
        sentiment = None if reading is None else pd.Series([reading], index=pd.DatetimeIndex([bars.times[0]]))
        rows = score_new_bars(
            model, None, klines, after=after, recorded={}, now=now, max_bar_times=50, sentiment=sentiment
        )
        assert len(rows) == 2 * 19  # every bar after `after` of both symbols
        return {CLASSES[int(np.argmax(row.challenger_proba))] for row in rows}

    assert actions(0.9) == {Action.BUY}
    assert actions(0.1) == {Action.SELL}
