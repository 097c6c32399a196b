"""The predictor: scores a batch of symbols with the active model -> Signal per symbol.

Built once in the app's lifespan. It holds the loaded model (or the reason there is none usable)
and swaps it atomically on reload, so scoring never sees half a model. With no usable model it
returns no signals and the universe selection falls back to pure liquidity.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ai_engine.booster import predict_proba
from ai_engine.features import FEATURE_NAMES
from ai_engine.gates import failed_gates
from ai_engine.kline_cache import KlineArrays
from ai_engine.latest import latest_feature_rows
from ai_engine.registry import LoadedModel, ModelRefusedError, ModelRegistry
from ai_engine.signal import CLASSES, Action, Signal
from backend.market.types import Kline
from config.runtime import SettingsHolder

if TYPE_CHECKING:
    from backend.observability.metrics import Metrics

log = logging.getLogger(__name__)


# Batches below this many rows are scored on one thread.
SMALL_BATCH = 2048


class IntervalMismatchError(RuntimeError):
    """predict() was given klines of another interval than the model's; str(exc) says which."""


@dataclass(frozen=True)
class ModelState:
    """What the predictor knows about the active model at one moment."""

    status: str  # active | none | refused | stale | mismatch (bar interval)
    version: str | None
    reason: str | None
    model: LoadedModel | None
    # Gates the active version failed (it was activated anyway: forced); None = it recorded no gates.
    failed_gates: list[str] | None = None

    @property
    def forced(self) -> bool:
        return bool(self.failed_gates)


class Predictor:
    def __init__(
        self,
        registry: ModelRegistry,
        settings: SettingsHolder,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sentiment: Callable[[], pd.Series | None] | None = None,
    ) -> None:
        self._registry = registry
        self._sentiment = sentiment
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._model: LoadedModel | None = None
        self._refused: str | None = None
        self._active_version: str | None = None  # the version the database says is active
        self._failed_gates: list[str] | None = None
        self._kline_mismatch: str | None = None  # klines of another interval were offered to predict()
        self._signals: dict[str, tuple[tuple[Any, ...], Signal]] = {}  # per symbol: (window key, signal)
        self._arrays = KlineArrays()
        self._lock = threading.Lock()

    # loading ------------------------------------------------------------------------------------
    def reload(self) -> ModelState:
        """Load the active model from the registry (blocking: call it off the event loop)."""
        with self._lock:
            self._kline_mismatch = None
            run = self._registry.active_run()
            self._failed_gates = failed_gates(run.metrics) if run is not None else None
            if run is None:
                self._model, self._refused, self._active_version = None, None, None
            elif self._model is not None and self._model.version == run.version:
                self._active_version = run.version
            else:
                self._active_version = run.version
                try:
                    self._model = self._registry.load(run)
                    self._refused = None
                    log.info("model loaded", extra={"version": run.version})
                except ModelRefusedError as exc:
                    self._model, self._refused = None, str(exc)
                    log.error("model refused", extra={"version": run.version, "reason": str(exc)})
        state = self.state()
        self._observe_state(state)
        return state

    def refresh(self) -> ModelState:
        """Reload only when the database names another active version (cheap; for replicas)."""
        run = self._registry.active_run()
        if (run.version if run else None) != self._active_version:
            return self.reload()
        state = self.state()
        self._observe_state(state)
        return state

    # state --------------------------------------------------------------------------------------
    def state(self, now: datetime | None = None) -> ModelState:
        model, refused, active, failed = self._model, self._refused, self._active_version, self._failed_gates
        if refused is not None:
            return ModelState("refused", active, refused, None, failed)
        if model is None:
            return ModelState("none", None, "no active model", None)
        mismatch = self._interval_mismatch(model)
        if mismatch is not None:
            return ModelState("mismatch", model.version, mismatch, None, failed)
        max_age = self._settings.current.model.max_age_hours
        age_hours = ((now or self._clock()) - model.age_from).total_seconds() / 3600
        if max_age > 0 and age_hours > max_age:
            since = "its training data ended" if model.age_from != model.trained_at else "it was trained"
            return ModelState(
                "stale",
                model.version,
                f"model {model.version} is {age_hours:.1f} h old (since {since}), above "
                f"QT_MODEL_MAX_AGE_HOURS={max_age:g}; retrain",
                model,
                failed,
            )
        return ModelState("active", model.version, None, model, failed)

    def _interval_mismatch(self, model: LoadedModel) -> str | None:
        configured = self._settings.current.model.interval
        trained = model.metadata.get("interval")
        if trained != configured:
            return f"model {model.version} was trained on {trained} bars but QT_MODEL_INTERVAL is {configured}"
        return self._kline_mismatch

    @property
    def active_version(self) -> str | None:
        """The version in use, or None when no usable model (none, refused or stale)."""
        state = self.state()
        return state.version if state.status == "active" else None

    @property
    def reason(self) -> str | None:
        """Why no model is used (None while one is)."""
        state = self.state()
        return None if state.status == "active" else state.reason

    def health_reasons(self) -> list[str]:
        """Reasons for /health: a refused, stale or mismatched model degrades the service (none does not)."""
        state = self.state()
        return [state.reason] if state.status in ("refused", "stale", "mismatch") and state.reason else []

    def _observe_state(self, state: ModelState) -> None:
        if self._metrics is None:
            return
        self._metrics.model_active.set(1 if state.status == "active" else 0)
        if state.model is not None:
            self._metrics.model_age.set((self._clock() - state.model.age_from).total_seconds())

    # scoring ------------------------------------------------------------------------------------
    def predict(
        self, klines_by_symbol: Mapping[str, Sequence[Kline]], sentiment: pd.Series | None = None
    ) -> dict[str, Signal]:
        """Signals for every symbol with enough bars, in one batched call ({} without a usable model).

        ``sentiment`` (index value / 100 by publication time) defaults to the provider given at
        construction (the market service's last reading in the app)."""
        state = self.state()
        if state.model is None or state.status != "active":
            return {}
        t0 = time.perf_counter()
        interval = str(state.model.metadata.get("interval"))
        usable = {s: ks for s, ks in klines_by_symbol.items() if ks}
        offered = {ks[0].interval for ks in usable.values()}
        if offered - {interval}:
            reason = (
                f"klines are {', '.join(sorted(offered - {interval}))} bars but model {state.model.version} was "
                f"trained on {interval} (QT_MARKET_KLINE_INTERVAL vs QT_MODEL_INTERVAL)"
            )
            if self._kline_mismatch != reason:
                log.error("model interval mismatch", extra={"reason": reason})
            self._kline_mismatch = reason
            raise IntervalMismatchError(reason)
        if sentiment is None and self._sentiment is not None:
            sentiment = self._sentiment()
        model = state.model
        mood = None if sentiment is None or len(sentiment) == 0 else (sentiment.index[-1], float(sentiment.iloc[-1]))
        # The answer changes once per bar: a symbol whose window (first bar, newest bar and its values)
        # is the one last scored by this model, with the same sentiment, keeps its signal.
        keys = {
            s: (model.version, mood, len(ks), ks[0].open_time, ks[-1].open_time, ks[-1].close, ks[-1].volume)
            for s, ks in usable.items()
        }
        cache = self._signals
        signals = {s: cache[s][1] for s, key in keys.items() if s in cache and cache[s][0] == key}
        misses = [s for s in usable if s not in signals]
        if misses:
            bars = self._arrays.bars({s: usable[s] for s in misses}, interval)
            # the rows as an array, not a frame: the same float32 values (tested), no pandas per call
            scored, rows = latest_feature_rows(bars, sentiment)
            fresh, _counts = self._score_rows(model, scored, rows.astype(np.float32))
            for symbol in misses:
                if symbol in fresh:
                    cache[symbol] = (keys[symbol], fresh[symbol])
                else:
                    cache.pop(symbol, None)
            signals.update(fresh)
        if len(cache) > 2 * len(usable) + 64:  # the universe moved on: forget symbols no longer offered
            for symbol in [s for s in cache if s not in usable]:
                del cache[symbol]
            self._arrays.forget(set(usable))
        counts = np.bincount([CLASSES.index(sig.action) for sig in signals.values()], minlength=len(CLASSES))
        self._observe(time.perf_counter() - t0, counts)
        return signals

    def predict_features(self, frame: pd.DataFrame) -> dict[str, Signal]:
        """Signals for a prepared feature frame (index: symbol, columns: FEATURE_NAMES)."""
        state = self.state()
        if state.model is None or state.status != "active":
            return {}
        t0 = time.perf_counter()
        signals, counts = self._score(state.model, frame)
        self._observe(time.perf_counter() - t0, counts)
        return signals

    @staticmethod
    def _score(model: LoadedModel, frame: pd.DataFrame) -> tuple[dict[str, Signal], np.ndarray]:
        """Signals plus the count of each class (for the metrics), from one inplace_predict call."""
        if len(frame) == 0:
            return {}, np.zeros(len(CLASSES), dtype=np.int64)
        if tuple(frame.columns) != FEATURE_NAMES:
            frame = frame.reindex(columns=list(FEATURE_NAMES))
        return Predictor._score_rows(model, frame.index.tolist(), frame.to_numpy(dtype=np.float32))

    @staticmethod
    def _score_rows(model: LoadedModel, symbols: list[str], data: np.ndarray) -> tuple[dict[str, Signal], np.ndarray]:
        """``_score`` of the float32 rows (columns FEATURE_NAMES) of ``symbols``, without a frame."""
        if len(symbols) == 0:
            return {}, np.zeros(len(CLASSES), dtype=np.int64)
        # One thread for the small batches of the live path: on a loaded 2-core machine the training
        # nthread=2 costs several times more than it saves (47 ms against 9.8 ms for 500 rows).
        threads = 1 if len(symbols) < SMALL_BATCH else 0
        if model.booster.attr("qt_threads") != str(threads):
            model.booster.set_param({"nthread": threads})
            model.booster.set_attr(qt_threads=str(threads))
        proba = predict_proba(model.booster, data)
        best = np.argmax(proba, axis=1)
        rows, best_list = proba.tolist(), best.tolist()
        sell, hold, buy = Action.SELL, Action.HOLD, Action.BUY
        actions = [CLASSES[k] for k in best_list]
        confidences = [row[k] for row, k in zip(rows, best_list, strict=True)]
        probabilities = [{sell: s, hold: h, buy: b} for s, h, b in rows]
        # Column-wise lists and tuple.__new__ (what Signal._make does, minus its checks): the
        # per-symbol Python work is most of what this adds to the booster's own predict time.
        make = tuple.__new__
        fields = zip(symbols, actions, confidences, probabilities, repeat(model.version))
        signals = dict(zip(symbols, [make(Signal, f) for f in fields], strict=True))
        return signals, np.bincount(best, minlength=len(CLASSES))

    def _observe(self, seconds: float, counts: np.ndarray) -> None:
        if self._metrics is None:
            return
        self._metrics.model_inference_duration.observe(seconds)
        for action, n in zip(CLASSES, counts.tolist(), strict=True):
            if n:
                self._metrics.model_predictions.labels(action=action.value).inc(n)

    def describe(self) -> dict[str, Any]:
        """The model block of /health: status, version, reason, and whether it was forced past failed gates."""
        state = self.state()
        return {
            "status": state.status,
            "version": state.version,
            "reason": state.reason,
            "forced": state.forced,
            "failed_gates": list(state.failed_gates or []),
        }
