"""Walk-forward evaluation: expanding folds with purge and embargo, metrics, baselines, a signal check.

Fold k trains on every bar time before its test window minus a gap of ``horizon + embargo`` bar
times: the purge (``horizon`` bars) removes training rows whose label window reaches into the test
window, the embargo removes a few more so serially correlated features near the boundary cannot
leak either. Metrics are computed per fold and pooled over every out-of-sample row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, precision_recall_fscore_support

from ai_engine.booster import BoosterParams, fit_booster, predict_proba
from ai_engine.dataset import DataError, Dataset
from ai_engine.features import DIRECTION_BLIND_FEATURES, FEATURE_NAMES
from ai_engine.labels import BUY, HOLD, SELL
from ai_engine.signal import CLASSES

PROB_FLOOR = 1e-15
LABELS = list(range(len(CLASSES)))
DIRECTIONAL_COLUMNS = tuple(i for i, name in enumerate(FEATURE_NAMES) if name not in DIRECTION_BLIND_FEATURES)


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


def class_prior(y_train: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """Training class frequencies, Laplace-smoothed: (count + alpha) / (n + alpha * classes).

    Unsmoothed, a class missing from the training window gets probability 0, so every test row of
    that class costs -log(1e-15) = 34.5 nats and almost any model "beats" the prior."""
    counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=len(CLASSES)).astype(np.float64)
    return (counts + alpha) / (counts.sum() + alpha * len(CLASSES))


def missing_classes(y_train: np.ndarray) -> list[str]:
    """The classes absent from a training window (a fold without every class is refused)."""
    present = set(np.unique(np.asarray(y_train, dtype=np.int64)).tolist())
    return [CLASSES[c].value for c in LABELS if c not in present]


def direction_blind(X: np.ndarray) -> np.ndarray:
    """The feature matrix with every directional column missing (NaN): only volatility and activity
    remain, so a booster fitted on it can say how likely a move is, never which way it goes."""
    out = np.array(X, dtype=np.float32, copy=True)
    out[:, list(DIRECTIONAL_COLUMNS)] = np.nan
    return out


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


def _evaluate(
    y: np.ndarray, proba: np.ndarray, blind: np.ndarray, prior: np.ndarray, fwd: np.ndarray, fee_bps: float
) -> dict[str, Any]:
    hold = np.zeros_like(proba)
    hold[:, HOLD] = 1.0
    return {
        "model": classification_metrics(y, proba),
        "class_prior": classification_metrics(y, np.tile(prior, (len(y), 1))),
        "direction_blind": classification_metrics(y, blind),
        "always_hold": classification_metrics(y, hold),
        "signal": signal_check(proba, fwd, fee_bps),
    }


@dataclass(frozen=True)
class OutOfSample:
    """The pooled out-of-sample predictions (row positions in the dataset, fold numbers, probabilities)."""

    rows: np.ndarray
    folds: np.ndarray
    proba: np.ndarray


@dataclass(frozen=True)
class EvaluationReport:
    folds: list[dict[str, Any]]  # every fold, refused ones with "refused": reason
    oos: dict[str, Any]  # pooled out-of-sample metrics of the model and the baselines (evaluated folds)
    predictions: OutOfSample | None = None
    boosters: dict[int, Any] = field(default_factory=dict)  # each evaluated fold's model (for the economic gate)

    @property
    def model_log_loss(self) -> float:
        return float(self.oos["model"]["log_loss"])

    @property
    def prior_log_loss(self) -> float:
        return float(self.oos["class_prior"]["log_loss"])

    @property
    def blind_log_loss(self) -> float:
        return float(self.oos["direction_blind"]["log_loss"])

    @property
    def beats_class_prior(self) -> bool:
        return self.model_log_loss < self.prior_log_loss

    @property
    def beats_direction_blind(self) -> bool:
        return self.model_log_loss < self.blind_log_loss

    @property
    def refused_folds(self) -> list[dict[str, Any]]:
        return [f for f in self.folds if f.get("refused")]

    def as_dict(self) -> dict[str, Any]:
        return {
            "folds": self.folds,
            "oos": self.oos,
            "beats_class_prior": self.beats_class_prior,
            "beats_direction_blind": self.beats_direction_blind,
        }


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
    """Train and score every fold (and the direction-blind baseline on the same rows); pool the
    out-of-sample predictions for the summary. A fold whose training window lacks a class is
    refused (recorded with the reason, not scored); every fold refused is a DataError."""
    say = progress or (lambda _m: None)
    folds = walk_forward_folds(dataset.times, n_folds=n_folds, horizon=dataset.horizon, embargo=embargo)
    X = dataset.features.to_numpy(dtype=np.float32)
    X_blind = direction_blind(X)
    y = dataset.labels
    fold_reports: list[dict[str, Any]] = []
    boosters: dict[int, Any] = {}
    pooled: dict[str, list[np.ndarray]] = {k: [] for k in ("rows", "fold", "p", "blind", "prior")}
    for fold in folds:
        window = {
            "fold": fold.number,
            "train_rows": len(fold.train),
            "test_rows": len(fold.test),
            "train_end": str(fold.train_end),
            "test_start": str(fold.test_start),
            "test_end": str(fold.test_end),
            "gap_bars": fold.gap_bars,
        }
        missing = missing_classes(y[fold.train])
        if missing:
            reason = (
                f"training window (to {fold.train_end}) has no {', '.join(missing)} rows: a model and a prior "
                "fitted on it cannot score that class; use more data or another threshold"
            )
            say(f"fold {fold.number}/{len(folds)}: refused: {reason}")
            fold_reports.append({**window, "refused": reason, "missing_classes": missing})
            continue
        say(f"fold {fold.number}/{len(folds)}: {len(fold.train)} train rows, {len(fold.test)} test rows")
        fold_booster = fit_booster(X[fold.train], y[fold.train], params, stop=stop)
        boosters[fold.number] = fold_booster
        proba = predict_proba(fold_booster, X[fold.test])
        blind_booster = fit_booster(X_blind[fold.train], y[fold.train], params, stop=stop)
        blind = predict_proba(blind_booster, X_blind[fold.test])
        prior = class_prior(y[fold.train])
        report = _evaluate(y[fold.test], proba, blind, prior, dataset.forward_returns[fold.test], fee_bps)
        report.update(window)
        fold_reports.append(report)
        for key, value in (
            ("rows", fold.test),
            ("fold", np.full(len(fold.test), fold.number)),
            ("p", proba),
            ("blind", blind),
            ("prior", np.tile(prior, (len(fold.test), 1))),
        ):
            pooled[key].append(value)
        say(
            f"fold {fold.number}: log loss {report['model']['log_loss']:.4f} vs prior "
            f"{report['class_prior']['log_loss']:.4f}, direction-blind {report['direction_blind']['log_loss']:.4f}, "
            f"accuracy {report['model']['accuracy']:.3f}"
        )
    if not pooled["rows"]:
        reasons = "; ".join(f"fold {f['fold']}: {f['refused']}" for f in fold_reports)
        raise DataError(f"every walk-forward fold was refused ({reasons})")
    rows = np.concatenate(pooled["rows"])
    all_y, all_p = y[rows], np.concatenate(pooled["p"])
    all_fwd = dataset.forward_returns[rows]
    oos = _evaluate(all_y, all_p, np.concatenate(pooled["blind"]), np.zeros(len(CLASSES)), all_fwd, fee_bps)
    oos["class_prior"] = classification_metrics(all_y, np.concatenate(pooled["prior"]))
    oos["evaluated_folds"] = len(pooled["rows"])
    oos["refused_folds"] = len(folds) - len(pooled["rows"])
    predictions = OutOfSample(rows, np.concatenate(pooled["fold"]), all_p)
    return EvaluationReport(fold_reports, oos, predictions, boosters)
