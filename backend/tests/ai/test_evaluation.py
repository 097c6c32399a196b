"""Walk-forward evaluation: fold boundaries (expanding, purge, embargo), metrics, baselines, signal check."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ai_engine.booster import BoosterParams
from ai_engine.dataset import DataError, build_dataset
from ai_engine.evaluation import (
    brier,
    class_prior,
    classification_metrics,
    log_loss,
    signal_check,
    walk_forward,
    walk_forward_folds,
)
from ai_engine.labels import BUY, HOLD, SELL
from backend.tests.ai.factories import random_walk_bars

HOUR = np.timedelta64(1, "h")


def _times(n_times: int, n_symbols: int = 3) -> np.ndarray:
    base = np.datetime64("2024-01-01T00:00", "ns")
    return np.repeat(base + np.arange(n_times) * HOUR, n_symbols)


@pytest.mark.parametrize(
    ("n_folds", "horizon", "embargo"),
    [(1, 1, 0), (3, 4, 0), (4, 4, 2), (5, 12, 6), (2, 24, 24)],
)
def test_folds_are_expanding_and_keep_purge_plus_embargo_between_train_and_test(
    n_folds: int, horizon: int, embargo: int
) -> None:
    times = _times(600)
    folds = walk_forward_folds(times, n_folds=n_folds, horizon=horizon, embargo=embargo)
    assert len(folds) == n_folds
    previous_train = 0
    for fold in folds:
        train_times, test_times = times[fold.train], times[fold.test]
        # every training label (which looks `horizon` bars ahead) ends before the test window starts,
        # with `embargo` more bars left out
        assert train_times.max() + (horizon + embargo) * HOUR < test_times.min()
        assert train_times.max() + (horizon + embargo + 1) * HOUR == test_times.min()
        assert fold.gap_bars == horizon + embargo
        assert len(fold.train) > previous_train  # expanding
        previous_train = len(fold.train)
        assert not set(fold.train) & set(fold.test)
        assert train_times.min() == times.min()
    # the test windows tile the end of the data in time order
    for a, b in itertools.pairwise(folds):
        assert times[a.test].max() < times[b.test].min()
    assert times[folds[-1].test].max() == times.max()


def test_folds_that_cannot_hold_the_gap_are_a_data_error() -> None:
    with pytest.raises(DataError, match="walk-forward folds"):
        walk_forward_folds(_times(50), n_folds=4, horizon=8, embargo=4)


def test_log_loss_and_brier_match_hand_computation() -> None:
    y = np.array([SELL, BUY])
    proba = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    assert log_loss(y, proba) == pytest.approx(-(math.log(0.5) + math.log(0.8)) / 2)
    # (0.5² + 0.3² + 0.2²) and (0.1² + 0.1² + 0.2²)
    assert brier(y, proba) == pytest.approx(((0.25 + 0.09 + 0.04) + (0.01 + 0.01 + 0.04)) / 2)


def test_classification_metrics_per_class_and_balanced_accuracy() -> None:
    y = np.array([SELL, SELL, HOLD, BUY])
    pred = np.array([SELL, HOLD, HOLD, HOLD])
    proba = np.eye(3)[pred] * 0.9 + 0.1 / 3
    m = classification_metrics(y, proba)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert m["per_class"]["SELL"] == {"precision": 1.0, "recall": 0.5, "support": 2}
    assert m["per_class"]["HOLD"]["precision"] == pytest.approx(1 / 3)
    assert m["per_class"]["BUY"] == {"precision": 0.0, "recall": 0.0, "support": 1}
    # F1: SELL 2/3, HOLD 0.5, BUY 0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0) / 3)


def test_class_prior_is_the_laplace_smoothed_training_frequency() -> None:
    np.testing.assert_allclose(class_prior(np.array([0, 0, 1, 2])), [3 / 7, 2 / 7, 2 / 7])
    np.testing.assert_allclose(class_prior(np.array([0, 0, 1, 2]), alpha=0), [0.5, 0.25, 0.25])


def test_a_class_missing_from_training_costs_the_smoothed_prior_little_not_34_nats() -> None:
    # The LTCBTC case: no BUY in the training window. Unsmoothed, every BUY test row cost
    # -log(1e-15) = 34.5 nats and a weak model "beat" the prior by miles.
    y_train = np.array([SELL] * 500 + [HOLD] * 9500)
    prior = class_prior(y_train)
    assert prior[BUY] > 0
    y_test = np.array([HOLD] * 990 + [BUY] * 10)
    smoothed = log_loss(y_test, np.tile(prior, (len(y_test), 1)))
    raw = log_loss(y_test, np.tile(class_prior(y_train, alpha=0), (len(y_test), 1)))
    assert raw > 0.34  # 1 % of rows at 34.5 nats
    assert smoothed < 0.15


def test_signal_check_is_net_of_a_round_trip_of_fees() -> None:
    proba = np.eye(3)[[BUY, BUY, SELL, HOLD]]
    fwd = np.array([0.01, 0.03, -0.02, 0.5])
    check = signal_check(proba, fwd, fee_bps=10)
    assert check["n_buy"] == 2
    assert check["n_sell"] == 1
    assert check["n_hold"] == 1
    assert check["buy_mean_forward_return"] == pytest.approx(0.02)
    assert check["buy_mean_net_return"] == pytest.approx(0.02 - 0.002)
    assert check["sell_mean_net_return"] == pytest.approx(0.02 - 0.002)  # a short gains 2%
    assert check["buy_minus_sell"] == pytest.approx(0.04)


def test_walk_forward_reports_model_and_baselines_per_fold_and_pooled() -> None:
    bars = random_walk_bars(n_symbols=3, n_bars=500, seed=4, momentum=0.3)
    ds = build_dataset(bars, horizon=2, threshold=0.004)
    report = walk_forward(ds, BoosterParams(rounds=10, threads=1), n_folds=3, embargo=1, fee_bps=10)
    assert len(report.folds) == 3
    for fold in report.folds:
        assert set(fold) >= {"model", "class_prior", "always_hold", "signal", "train_rows", "test_rows"}
        assert fold["gap_bars"] == 3
    assert report.oos["model"]["rows"] == sum(f["test_rows"] for f in report.folds)
    assert report.oos["always_hold"]["accuracy"] == pytest.approx(
        np.mean(ds.labels[-report.oos["model"]["rows"] :] == HOLD)
    )
    # momentum makes the next bars predictable: the model beats the class prior out of sample
    assert report.beats_class_prior
    assert report.as_dict()["beats_class_prior"] is True
