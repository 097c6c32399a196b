"""Labels: forward return over the horizon against the threshold, checked against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from ai_engine.labels import BUY, HOLD, NO_LABEL, SELL, forward_returns, make_labels, volatility_scale
from ai_engine.signal import CLASSES, Action


def test_class_codes_are_positions_in_classes() -> None:
    assert (CLASSES[SELL], CLASSES[HOLD], CLASSES[BUY]) == (Action.SELL, Action.HOLD, Action.BUY)


@pytest.mark.parametrize(
    ("close", "horizon", "threshold", "expected"),
    [
        # +1% after one bar: BUY; -1%: SELL; +0.2%: HOLD; the last bar has no future
        ([100.0, 101.0, 99.99, 100.1899], 1, 0.005, [BUY, SELL, HOLD, NO_LABEL]),
        # horizon 2: 100 -> 100.3 (+0.3% HOLD), 101 -> 99 (-1.98% SELL); two last bars unlabelled
        ([100.0, 101.0, 100.3, 99.0], 2, 0.005, [HOLD, SELL, NO_LABEL, NO_LABEL]),
        # at the threshold is HOLD (strictly beyond is needed); 100.5 -> 100 is -0.4975%: HOLD
        ([100.0, 100.5, 100.0], 1, 0.005, [HOLD, HOLD, NO_LABEL]),
        ([100.0, 104.0, 104.0, 98.0, 120.0], 3, 0.01, [SELL, BUY, NO_LABEL, NO_LABEL, NO_LABEL]),
    ],
)
def test_labels_match_hand_computed_cases(
    close: list[float], horizon: int, threshold: float, expected: list[int]
) -> None:
    labels, fwd = make_labels(np.array(close), horizon, threshold)
    assert labels.tolist() == expected
    for t, label in enumerate(expected):
        if label != NO_LABEL:
            assert fwd[t] == pytest.approx(close[t + horizon] / close[t] - 1)
        else:
            assert np.isnan(fwd[t])


def test_labels_work_column_wise_over_many_symbols() -> None:
    close = np.array([[100.0, 10.0], [102.0, 9.0], [102.0, 9.0]])
    labels, _ = make_labels(close, 1, 0.01)
    assert labels[:, 0].tolist() == [BUY, HOLD, NO_LABEL]
    assert labels[:, 1].tolist() == [SELL, HOLD, NO_LABEL]


def test_missing_bars_have_no_label() -> None:
    labels, _ = make_labels(np.array([100.0, np.nan, 101.0, 103.0]), 1, 0.005)
    assert labels.tolist() == [NO_LABEL, NO_LABEL, BUY, NO_LABEL]


def test_forward_returns_reject_a_zero_horizon() -> None:
    with pytest.raises(ValueError, match="horizon"):
        forward_returns(np.ones(3), 0)


def test_volatility_scaling_widens_the_threshold_in_wild_periods() -> None:
    rng = np.random.default_rng(0)
    calm = rng.normal(0, 0.001, 200)
    wild = rng.normal(0, 0.01, 200)
    close = 100 * np.exp(np.cumsum(np.concatenate([calm, wild])))
    scale = volatility_scale(close)
    assert np.nanmedian(scale[250:]) > 3 * np.nanmedian(scale[60:200])
    plain, _ = make_labels(close, 4, 0.004)
    scaled, _ = make_labels(close, 4, 0.004, vol_scaled=True)
    # a move that is large in the calm regime is an ordinary one in the wild regime
    assert (scaled[250:390] == HOLD).mean() > (plain[250:390] == HOLD).mean()
    assert (scaled[:47] == NO_LABEL).all()  # no volatility estimate yet


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vol_scaled_labels_never_change_when_later_bars_change(seed: int) -> None:
    # The review's case: the full-sample median volatility moved 809 of the first 10,000 labels when
    # later bars changed. Each label's threshold now comes from the bars up to its own bar.
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.005, (600, 2)), axis=0))
    horizon, cut = 4, int(rng.integers(100, 500))
    later = close.copy()
    later[cut:] *= np.exp(np.cumsum(rng.normal(0, 0.03, (600 - cut, 2)), axis=0))  # wilder later bars
    before, _ = make_labels(close, horizon, 0.004, vol_scaled=True)
    after, _ = make_labels(later, horizon, 0.004, vol_scaled=True)
    known = cut - horizon  # labels whose forward window ends before the first changed bar
    np.testing.assert_array_equal(before[:known], after[:known])
    assert (before[cut:] != after[cut:]).any()  # the changed bars themselves do relabel
