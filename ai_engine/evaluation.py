"""Walk-forward evaluation: expanding folds with purge and embargo, metrics, baselines, a signal check.

Fold k trains on every bar time before its test window minus a gap of ``horizon + embargo`` bar
times: the purge (``horizon`` bars) removes training rows whose label window reaches into the test
window, the embargo removes a few more so serially correlated features near the boundary cannot
leak either. Metrics are computed per fold and pooled over every out-of-sample row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, precision_recall_fscore_support

from ai_engine.booster import BoosterParams, fit_booster, predict_proba
from ai_engine.dataset import DataError, Dataset
from ai_engine.labels import BUY, HOLD, SELL
from ai_engine.signal import CLASSES

PROB_FLOOR = 1e-15
LABELS = list(range(len(CLASSES)))


@dataclass(frozen=True)
class Fold:
    number: int
    train: np.ndarray  # row positions in the dataset
    test: np.ndarray
    train_end: np.datetime64  # last training bar time
    test_start: np.datetime64
    test_end: np.datetime64
    gap_bars: int  # bar times left out between train_end and test_start


def walk_forward_folds(
    times: np.ndarray, *, n_folds: int, horizon: int, embargo: int = 0, min_train_rows: int = 50
) -> list[Fold]:
    """Expanding-window folds over the distinct bar times: the times are cut into n_folds + 1 blocks,
    fold k tests block k and trains on everything before it minus ``horizon + embargo`` bar times."""
    if n_folds < 1:
        raise ValueError("n_folds must be at least 1")
    unique, inverse = np.unique(times, return_inverse=True)
    n = len(unique)
    gap = horizon + embargo
    block = n // (n_folds + 1)
    if block <= gap:
        raise DataError(
            f"{n} bar times cannot hold {n_folds} walk-forward folds with a gap of {gap} bars: use more days "
            "or fewer folds"
        )
    folds = []
    for k in range(1, n_folds + 1):
        test_lo = k * block
        test_hi = n if k == n_folds else (k + 1) * block
        train_hi = test_lo - gap  # exclusive: positions test_lo - gap .. test_lo - 1 are purged/embargoed
        train = np.nonzero(inverse < train_hi)[0]
        test = np.nonzero((inverse >= test_lo) & (inverse < test_hi))[0]
        if len(train) < min_train_rows:
            raise DataError(f"fold {k} has only {len(train)} training rows; use more days or fewer folds")
        folds.append(
            Fold(
                number=k,
                train=train,
                test=test,
                train_end=unique[train_hi - 1],
                test_start=unique[test_lo],
                test_end=unique[test_hi - 1],
                gap_bars=gap,
            )
        )
    return folds


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    p = np.clip(proba[np.arange(len(y)), y], PROB_FLOOR, 1.0)
    return float(-np.mean(np.log(p)))


def brier(y: np.ndarray, proba: np.ndarray) -> float:
    onehot = np.zeros_like(proba)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Log loss, accuracy, balanced accuracy, macro F1, per-class precision/recall and Brier score."""
    y = np.asarray(y, dtype=np.int64)
    pred = np.argmax(proba, axis=1)
    precision, recall, _f, support = precision_recall_fscore_support(y, pred, labels=LABELS, zero_division=0)
    return {
        "rows": len(y),
        "log_loss": log_loss(y, proba),
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if len(np.unique(y)) > 1 else float("nan"),
        "macro_f1": float(f1_score(y, pred, labels=LABELS, average="macro", zero_division=0)),
        "brier": brier(y, proba),
        "per_class": {
            CLASSES[c].value: {
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "support": int(support[c]),
            }
            for c in LABELS
        },
    }


def class_prior(y_train: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=len(CLASSES)).astype(np.float64)
    return counts / counts.sum()


def signal_check(proba: np.ndarray, forward_returns: np.ndarray, fee_bps: float) -> dict[str, Any]:
    """Mean forward return after BUY and after SELL predictions, net of a round trip of fees.

    A BUY is scored as a long position (return − fees), a SELL as a short one (−return − fees);
    ``buy_minus_sell`` is the gross spread between the two groups (positive = the model separates).
    """
    pred = np.argmax(proba, axis=1)
    cost = 2 * fee_bps / 10_000
    out: dict[str, Any] = {"fee_bps": fee_bps, "round_trip_cost": cost}
    for name, code, sign in (("buy", BUY, 1.0), ("sell", SELL, -1.0)):
        chosen = forward_returns[pred == code]
        out[f"n_{name}"] = len(chosen)
        out[f"{name}_mean_forward_return"] = float(np.mean(chosen)) if len(chosen) else None
        out[f"{name}_mean_net_return"] = float(np.mean(sign * chosen) - cost) if len(chosen) else None
    out["n_hold"] = int(np.sum(pred == HOLD))
    buy, sell = out["buy_mean_forward_return"], out["sell_mean_forward_return"]
    out["buy_minus_sell"] = None if buy is None or sell is None else buy - sell
    out["mean_forward_return"] = float(np.mean(forward_returns)) if len(forward_returns) else None
    return out


def _evaluate(y: np.ndarray, proba: np.ndarray, prior: np.ndarray, fwd: np.ndarray, fee_bps: float) -> dict[str, Any]:
    hold = np.zeros_like(proba)
    hold[:, HOLD] = 1.0
    return {
        "model": classification_metrics(y, proba),
        "class_prior": classification_metrics(y, np.tile(prior, (len(y), 1))),
        "always_hold": classification_metrics(y, hold),
        "signal": signal_check(proba, fwd, fee_bps),
    }


@dataclass(frozen=True)
class EvaluationReport:
    folds: list[dict[str, Any]]
    oos: dict[str, Any]  # pooled out-of-sample metrics of the model and the baselines

    @property
    def model_log_loss(self) -> float:
        return float(self.oos["model"]["log_loss"])

    @property
    def prior_log_loss(self) -> float:
        return float(self.oos["class_prior"]["log_loss"])

    @property
    def beats_class_prior(self) -> bool:
        return self.model_log_loss < self.prior_log_loss

    def as_dict(self) -> dict[str, Any]:
        return {"folds": self.folds, "oos": self.oos, "beats_class_prior": self.beats_class_prior}


def walk_forward(
    dataset: Dataset,
    params: BoosterParams,
    *,
    n_folds: int,
    embargo: int,
    fee_bps: float,
    progress: Callable[[str], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> EvaluationReport:
    """Train and score every fold; pool the out-of-sample predictions for the summary."""
    folds = walk_forward_folds(dataset.times, n_folds=n_folds, horizon=dataset.horizon, embargo=embargo)
    X = dataset.features.to_numpy(dtype=np.float32)
    y = dataset.labels
    fold_reports = []
    pooled_y, pooled_p, pooled_prior, pooled_fwd = [], [], [], []
    for fold in folds:
        if progress is not None:
            progress(f"fold {fold.number}/{len(folds)}: {len(fold.train)} train rows, {len(fold.test)} test rows")
        booster = fit_booster(X[fold.train], y[fold.train], params, stop=stop)
        proba = predict_proba(booster, X[fold.test])
        prior = class_prior(y[fold.train])
        fwd = dataset.forward_returns[fold.test]
        report = _evaluate(y[fold.test], proba, prior, fwd, fee_bps)
        report.update(
            {
                "fold": fold.number,
                "train_rows": len(fold.train),
                "test_rows": len(fold.test),
                "train_end": str(fold.train_end),
                "test_start": str(fold.test_start),
                "test_end": str(fold.test_end),
                "gap_bars": fold.gap_bars,
            }
        )
        fold_reports.append(report)
        pooled_y.append(y[fold.test])
        pooled_p.append(proba)
        pooled_prior.append(np.tile(prior, (len(fold.test), 1)))
        pooled_fwd.append(fwd)
        if progress is not None:
            progress(
                f"fold {fold.number}: log loss {report['model']['log_loss']:.4f} vs prior "
                f"{report['class_prior']['log_loss']:.4f}, accuracy {report['model']['accuracy']:.3f}"
            )
    all_y = np.concatenate(pooled_y)
    all_p = np.concatenate(pooled_p)
    all_prior = np.concatenate(pooled_prior)
    all_fwd = np.concatenate(pooled_fwd)
    hold = np.zeros_like(all_p)
    hold[:, HOLD] = 1.0
    oos = {
        "model": classification_metrics(all_y, all_p),
        "class_prior": classification_metrics(all_y, all_prior),
        "always_hold": classification_metrics(all_y, hold),
        "signal": signal_check(all_p, all_fwd, fee_bps),
    }
    return EvaluationReport(folds=fold_reports, oos=oos)
