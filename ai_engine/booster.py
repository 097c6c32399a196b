"""The XGBoost model: multi:softprob over SELL/HOLD/BUY with the hist method, deterministic per seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from ai_engine.features import FEATURE_NAMES
from ai_engine.signal import CLASSES


@dataclass(frozen=True)
class BoosterParams:
    seed: int = 7
    rounds: int = 100
    max_depth: int = 3
    learning_rate: float = 0.05
    threads: int = 2
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 50.0
    reg_lambda: float = 1.0

    def xgb_params(self) -> dict[str, Any]:
        return {
            "objective": "multi:softprob",
            "num_class": len(CLASSES),
            "tree_method": "hist",
            "eval_metric": "mlogloss",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "seed": self.seed,
            "nthread": self.threads,
            "verbosity": 0,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.xgb_params(), "num_boost_round": self.rounds}


class TrainingCancelledError(Exception):
    """The run was asked to stop (the service is shutting down)."""


class _StopWhen(xgb.callback.TrainingCallback):
    """Ends boosting after the current round once ``stop()`` is true (callbacks are not saved)."""

    def __init__(self, stop: Callable[[], bool]) -> None:
        super().__init__()
        self._stop = stop

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return self._stop()


def fit_booster(
    features: pd.DataFrame | np.ndarray,
    labels: np.ndarray,
    params: BoosterParams,
    *,
    stop: Callable[[], bool] | None = None,
) -> xgb.Booster:
    """Train one booster; the same data, params and seed give the same model, byte for byte.

    ``stop`` is polled after every boosting round; once true, TrainingCancelledError is raised."""
    matrix = xgb.DMatrix(
        np.asarray(features, dtype=np.float32),
        label=np.asarray(labels),
        feature_names=list(FEATURE_NAMES),
        nthread=params.threads,
    )
    callbacks = [_StopWhen(stop)] if stop is not None else None
    booster = xgb.train(params.xgb_params(), matrix, num_boost_round=params.rounds, callbacks=callbacks)
    if stop is not None and stop():
        raise TrainingCancelledError("training was stopped")
    return booster


def predict_proba(booster: xgb.Booster, features: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Class probabilities, one row per input row, columns in CLASSES order."""
    values = np.asarray(features, dtype=np.float32)
    if len(values) == 0:
        return np.empty((0, len(CLASSES)))
    proba = booster.inplace_predict(values, validate_features=False)
    return np.asarray(proba, dtype=np.float64).reshape(len(values), len(CLASSES))
