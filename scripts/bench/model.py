"""Model benchmarks: features for 100 symbols x 10,000 bars, inference for 500 symbols against raw
``Booster.inplace_predict`` on the same matrix, training time for 200,000 rows, and the hot path:
``predict()`` for 100 symbols x 200 klines, features included, side by side with the raw booster.

``python -m scripts.bench model``. Data are seeded random walks generated here (not timed).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from ai_engine.booster import BoosterParams, fit_booster
from ai_engine.features import FEATURE_NAMES, FEATURE_VERSION, Bars, bars_from_klines, compute_features, latest_features
from ai_engine.kline_cache import KlineArrays
from ai_engine.predictor import Predictor
from ai_engine.registry import ModelRegistry
from ai_engine.training import library_versions
from backend.market.types import Kline
from config.runtime import SettingsHolder
from config.settings import load_settings
from database.migrate import upgrade
from database.session import make_engine, make_session_factory


def _bars(n_symbols: int, n_bars: int, seed: int = 0) -> Bars:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2020-01-01", periods=n_bars, freq="1h", tz="UTC")
    returns = rng.standard_normal((n_bars, n_symbols)) * 0.01
    close = 100 * np.exp(np.cumsum(returns, axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    spread = np.abs(rng.standard_normal((n_bars, n_symbols))) * 0.003
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    volume = np.exp(rng.standard_normal((n_bars, n_symbols)) * 0.5 + 7)
    symbols = tuple(f"B{j:04d}USDT" for j in range(n_symbols))
    return Bars("1h", times, symbols, open_, high, low, close, volume)


def _timed(func: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``repeat`` calls, in seconds."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _klines(bars: Bars) -> dict[str, list[Kline]]:
    out: dict[str, list[Kline]] = {}
    step = pd.Timedelta(hours=1).to_pytimedelta()
    from decimal import Decimal

    times = [t.to_pydatetime() for t in bars.times]
    for j, symbol in enumerate(bars.symbols):
        out[symbol] = [
            Kline(
                symbol,
                "1h",
                t,
                t + step,
                Decimal(f"{bars.open[i, j]:.6f}"),
                Decimal(f"{bars.high[i, j]:.6f}"),
                Decimal(f"{bars.low[i, j]:.6f}"),
                Decimal(f"{bars.close[i, j]:.6f}"),
                Decimal(f"{bars.volume[i, j]:.4f}"),
                Decimal("0"),
            )
            for i, t in enumerate(times)
        ]
    return out


def _predictor_with(booster: xgb.Booster, features: pd.DataFrame, labels: np.ndarray) -> Predictor:
    """A predictor that loaded ``booster`` through a real registry (temporary SQLite + artifacts)."""
    workdir = Path(tempfile.mkdtemp(prefix="qt-bench-model-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    settings = load_settings(
        {"database": {"DATABASE_URL": url}, "model": {"QT_MODEL_ARTIFACTS_DIR": str(workdir / "artifacts")}},
        env_file=False,
    )
    registry = ModelRegistry(settings.model.artifacts_dir, make_session_factory(make_engine(url)))
    run = registry.start_run(dataset={"source": "bench"}, params={})
    metadata = {
        "trained_at": datetime.now(UTC).isoformat(),
        "feature_version": FEATURE_VERSION,
        "features": list(FEATURE_NAMES),
        "interval": "1h",
        "libraries": library_versions(),
    }
    path, digest = registry.save_artifact(run.version, booster, metadata)
    registry.complete_run(run.id, metrics={}, model_path=path / "model.ubj", sha256=digest)
    registry.activate(run.version)
    predictor = Predictor(registry, SettingsHolder(settings))
    predictor.reload()
    if predictor.active_version != run.version:
        raise RuntimeError(f"bench model not loaded: {predictor.reason}")
    return predictor


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    # 1. features: 100 symbols x 10,000 bars (1,000,000 rows), the training path (long frame)
    bars = _bars(100, 10_000)
    cpu0 = time.process_time()
    seconds = _timed(lambda: compute_features(bars), repeat=3)
    cpu = (time.process_time() - cpu0) / 3
    rows.append(
        {
            "name": "features 100 symbols x 10,000 bars (1M rows, wall)",
            "value": round(seconds, 3),
            "unit": "s",
            "target": "<= 2 s",
            "ok": seconds <= 2.0,
        }
    )
    rows.append({"name": "features 100 x 10,000: process CPU time per run", "value": round(cpu, 3), "unit": "s"})

    # 3. training: 200,000 rows with the default parameters (timed before inference needs a model)
    train_frame = compute_features(_bars(40, 5_100, seed=1)).iloc[:200_000]
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=len(train_frame))
    params = BoosterParams()
    t0 = time.perf_counter()
    booster = fit_booster(train_frame, labels, params)
    train_seconds = time.perf_counter() - t0
    rows.append(
        {
            "name": f"training {len(train_frame):,} rows ({params.rounds} rounds, depth {params.max_depth}, "
            f"{params.threads} threads)",
            "value": round(train_seconds, 2),
            "unit": "s",
            "target": "<= 60 s",
            "ok": train_seconds <= 60,
        }
    )

    # 2. inference: 500 symbols, the predictor against raw inplace_predict on the same matrix
    scoring_bars = _bars(500, 200, seed=3)
    frame = latest_features(scoring_bars)
    matrix = frame.to_numpy(dtype=np.float32)
    predictor = _predictor_with(booster, train_frame, labels)
    if len(predictor.predict_features(frame)) != len(frame):
        raise RuntimeError("the predictor did not score every symbol")
    # The raw reference runs on one thread, as the predictor scores any batch under 2,048 rows: timed
    # against the training nthread=2, the ratio measured the thread count (2.1 on an idle machine, where
    # two threads are faster for 500 rows), not the predictor's overhead. Interleaved, so both see the
    # same load from whatever else runs on the machine.
    one_thread = booster.copy()
    one_thread.set_param({"nthread": 1})
    raw_samples, our_samples = [], []
    for _ in range(400):
        t0 = time.perf_counter()
        one_thread.inplace_predict(matrix, validate_features=False)
        t1 = time.perf_counter()
        predictor.predict_features(frame)
        t2 = time.perf_counter()
        raw_samples.append(t1 - t0)
        our_samples.append(t2 - t1)
    raw, ours = statistics.median(raw_samples), statistics.median(our_samples)
    ratio = ours / raw
    rows.append(
        {
            "name": "inference 500 feature rows (predict_features vs raw inplace_predict, both 1 thread)",
            "value": round(ours * 1000, 3),
            "unit": "ms",
            "target": "ratio <= 1.5 (this module's own bound; the issue's target is the hot-path row)",
            "reference": round(raw * 1000, 3),
            "ratio": round(ratio, 3),
            "ok": ratio <= 1.5,
        }
    )
    klines = _klines(scoring_bars)

    def cold_predict() -> None:
        # end to end means a new bar for every symbol: without this, calls 2..5 are served by the
        # predictor's per-(symbol, bar) caches and the row timed dictionary lookups (0.4 ms)
        predictor._signals.clear()
        predictor._arrays = KlineArrays()
        predictor.predict(klines)

    end_to_end = _timed(cold_predict, repeat=5)
    convert = _timed(lambda: bars_from_klines(klines), repeat=5)
    rows.append(
        {
            "name": "predict() 500 symbols x 200 klines end to end (Decimal -> features -> signals)",
            "value": round(end_to_end * 1000, 1),
            "unit": "ms",
            "reference": round(convert * 1000, 1),
            "target": "reference: Kline -> array conversion alone",
        }
    )
    rows += _hot_path(booster, predictor)
    return rows


def _hot_path(booster: xgb.Booster, predictor: Predictor) -> list[dict[str, Any]]:
    """predict() for 100 symbols x 200 klines, side by side in one loop with raw inplace_predict on the
    same 100 feature rows: at every refresh (the same bars: the answer changes once per bar) and at
    a new bar (every symbol's window slid by one bar: features recomputed for all)."""
    slides = 30
    long_bars = _bars(100, 200 + slides, seed=5)
    long_klines = _klines(long_bars)
    windows = [{s: ks[i : i + 200] for s, ks in long_klines.items()} for i in range(slides + 1)]
    matrix = latest_features(bars_from_klines(windows[0])).to_numpy(dtype=np.float32)
    one_thread = booster.copy()
    one_thread.set_param({"nthread": 1})
    if len(predictor.predict(windows[0])) != 100:
        raise RuntimeError("the predictor did not score every symbol")
    raw2, raw1, warm, fresh, fresh_cpu = [], [], [], [], []
    for i in range(1, slides + 1):
        for _ in range(10):
            t0 = time.perf_counter()
            booster.inplace_predict(matrix, validate_features=False)
            t1 = time.perf_counter()
            one_thread.inplace_predict(matrix, validate_features=False)
            t2 = time.perf_counter()
            predictor.predict(windows[i - 1])  # a refresh within the bar
            t3 = time.perf_counter()
            raw2.append(t1 - t0)
            raw1.append(t2 - t1)
            warm.append(t3 - t2)
        t0, c0 = time.perf_counter(), time.thread_time()
        predictor.predict(windows[i])  # a new bar for every symbol
        fresh.append(time.perf_counter() - t0)
        fresh_cpu.append(time.thread_time() - c0)
    r2, r1 = statistics.median(raw2), statistics.median(raw1)
    w, f = statistics.median(warm), statistics.median(fresh)
    return [
        {
            "name": "predict() 100 symbols x 200 klines, a refresh within the bar (vs raw inplace_predict, 1 thread)",
            "value": round(w * 1000, 3),
            "unit": "ms",
            "reference": round(r1 * 1000, 3),
            "ratio": round(w / r1, 3),
            "target": "<= 20 ms and ratio <= 1.2",
            "ok": w <= 0.020 and w / r1 <= 1.2,
        },
        {
            "name": "raw inplace_predict on the same 100 rows with the training threads",
            "value": round(r2 * 1000, 3),
            "unit": "ms",
            "threads": int(BoosterParams().threads),
        },
        {
            "name": "predict() 100 symbols x 200 klines at a new bar (features of every symbol recomputed)",
            "value": round(f * 1000, 2),
            "unit": "ms",
            "reference": round(r1 * 1000, 3),
            "ratio": round(f / r1, 1),
            "cpu_ms": round(statistics.median(fresh_cpu) * 1000, 2),
            "target": "<= 20 ms",
            "ok": f <= 0.020,
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
