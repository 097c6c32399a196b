"""Shadowing scores champion and challenger with the sentiment reading the live predictor is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ai_engine.registry import LoadedModel
from ai_engine.shadow import score_new_bars
from ai_engine.signal import CLASSES, Action
from backend.tests.ai.factories import klines_of, random_walk_bars, sentiment_booster


def _model_of_the_mood() -> LoadedModel:
    """A model that buys when the sentiment feature is above one half and sells below it."""
    when = datetime(2024, 1, 1, tzinfo=UTC)
    return LoadedModel("mood", sentiment_booster(), {"interval": "1h"}, when, "0" * 64, Path("unused"))


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


def test_each_shadowed_bar_gets_the_reading_held_at_its_close_never_a_later_one() -> None:
    # the shadow was given only the newest reading: bars before it got none, and bars that closed
    # before it was fetched got it all the same
    bars = random_walk_bars(n_symbols=2, n_bars=120, seed=4)
    hour = timedelta(hours=1)
    change = bars.times[110].to_pydatetime() + hour  # bar 110's close: the new reading is held from then
    history = pd.Series([0.1, 0.9], index=pd.DatetimeIndex([bars.times[0], change]), dtype=float)
    now = bars.times[-1].to_pydatetime() + hour
    rows = score_new_bars(
        _model_of_the_mood(),
        None,
        klines_of(bars),
        after=bars.times[100].to_pydatetime(),
        recorded={},
        now=now,
        max_bar_times=50,
        sentiment=history,
    )
    for row in rows:
        expected = Action.BUY if row.open_time + hour >= change else Action.SELL
        assert CLASSES[int(np.argmax(row.challenger_proba))] == expected, row.open_time
    assert {row.open_time for row in rows if row.open_time + hour >= change} == set(bars.times[110:])


def test_the_services_shadow_is_given_every_reading_the_market_service_held(client: Any) -> None:
    ctx = client.app.state.ctx
    held = ctx.services["market"].sentiment.history
    held.clear()
    held.extend([(datetime(2025, 1, 1, 6, tzinfo=UTC), 20.0), (datetime(2025, 1, 2, 7, tzinfo=UTC), 80.0)])
    given = ctx.services["model_retrain"]._sentiment()
    assert given.to_dict() == {pd.Timestamp("2025-01-01T06:00Z"): 0.2, pd.Timestamp("2025-01-02T07:00Z"): 0.8}
