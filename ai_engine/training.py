"""One training run, end to end: data -> dataset -> walk-forward evaluation -> final fit -> artifact
-> ModelTrainingRun row -> activation decision -> retention.

Shared by the CLI (train_and_save.py), `make run`'s bootstrap and POST /ai/train.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb

from ai_engine.artifacts import MODEL_FILE
from ai_engine.booster import BoosterParams, fit_booster, predict_proba
from ai_engine.dataset import DataError, build_dataset
from ai_engine.economic import FoldModel, economic_gate
from ai_engine.evaluation import EvaluationReport, classification_metrics, walk_forward
from ai_engine.features import FEATURE_NAMES, FEATURE_VERSION, WARMUP_BARS, Bars, interval_delta
from ai_engine.gates import Activation, Gate, decide, gate_report, statistical_gates
from ai_engine.registry import ModelRegistry, RunRecord
from ai_engine.signal import CLASSES
from ai_engine.sources import load_training_data
from backend.market.source import floor_time
from config.settings import Settings

_MS = timedelta(milliseconds=1)

log = logging.getLogger(__name__)


class ActivationPolicy(StrEnum):
    AUTO = "auto"  # only when the model passed every gate (ai_engine.gates)
    NEVER = "never"
    FORCE = "force"


@dataclass(frozen=True)
class TrainingRequest:
    source: str | None = None  # simulated | binance | replay:DIR | database; None = QT_MARKET_DATA_SOURCE
    symbols: list[str] | None = None
    interval: str | None = None
    days: int | None = None
    horizon: int | None = None
    seed: int | None = None
    activate: ActivationPolicy = ActivationPolicy.AUTO


@dataclass(frozen=True)
class TrainingOutcome:
    run: RunRecord
    activated: bool
    activation_reason: str
    report: EvaluationReport
    metadata: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[str], None]


def resolve_request(request: TrainingRequest, settings: Settings) -> dict[str, Any]:
    """The effective parameters of a run (request values over configured defaults)."""
    model = settings.model
    source = request.source or settings.market.source.value
    if source == "replay" and settings.market.replay_dir is not None:
        source = f"replay:{settings.market.replay_dir}"
    return {
        "source": source,
        "symbols": [s.upper() for s in request.symbols] if request.symbols else list(model.train_symbols),
        "interval": request.interval or model.interval,
        "days": request.days or model.train_days,
        "horizon": request.horizon or model.horizon_bars,
        "seed": model.seed if request.seed is None else request.seed,
        "activate": ActivationPolicy(request.activate).value,
        "threshold": model.label_threshold,
        "vol_scaled": model.label_vol_scaled,
        "folds": model.folds,
        "embargo": model.embargo_bars,
    }


def booster_params(settings: Settings, seed: int) -> BoosterParams:
    model = settings.model
    return BoosterParams(
        seed=seed,
        rounds=model.boost_rounds,
        max_depth=model.max_depth,
        learning_rate=model.learning_rate,
        threads=model.threads,
    )


def library_versions() -> dict[str, str]:
    return {
        "xgboost": xgb.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def metrics_summary(report: EvaluationReport) -> dict[str, Any]:
    oos = report.oos
    return {
        "log_loss": oos["model"]["log_loss"],
        "accuracy": oos["model"]["accuracy"],
        "balanced_accuracy": oos["model"]["balanced_accuracy"],
        "macro_f1": oos["model"]["macro_f1"],
        "brier": oos["model"]["brier"],
        "class_prior_log_loss": oos["class_prior"]["log_loss"],
        "direction_blind_log_loss": oos["direction_blind"]["log_loss"],
        "always_hold_accuracy": oos["always_hold"]["accuracy"],
        "beats_class_prior": report.beats_class_prior,
        "beats_direction_blind": report.beats_direction_blind,
        "refused_folds": oos["refused_folds"],
        "buy_mean_net_return": oos["signal"]["buy_mean_net_return"],
        "sell_mean_net_return": oos["signal"]["sell_mean_net_return"],
    }


def activation_decision(policy: ActivationPolicy, gates: dict[str, Any]) -> Activation:
    """The guard-rail: auto activates only a model that passed every gate (see ai_engine.gates)."""
    return decide(ActivationPolicy(policy).value, gates)


def feature_importance(booster: xgb.Booster) -> dict[str, float]:
    """Total gain per feature of the final model, largest first (features never split on are absent)."""
    gain = {name: float(np.sum(value)) for name, value in booster.get_score(importance_type="total_gain").items()}
    return dict(sorted(gain.items(), key=lambda kv: -kv[1]))


def _gates(
    report: EvaluationReport, bars: Bars, effective: dict[str, Any], settings: Settings, say: Progress
) -> dict[str, Any]:
    gates = statistical_gates(report)
    if not settings.model.economic_gate:
        return gate_report(gates, {"economic": "QT_MODEL_ECONOMIC_GATE=0"})
    if len(bars.symbols) < 2:
        gates.append(single_symbol_gate(bars.symbols))
        return gate_report(gates)
    failed = [g.name for g in gates if not g.passed]
    if failed:  # a backtest per fold is costly: only a model that passed the rest is traded
        return gate_report(gates, {"economic": f"not evaluated: the {', '.join(failed)} gate failed first"})
    step = interval_delta(bars.interval)
    folds = [
        FoldModel(
            f["fold"],
            report.boosters[f["fold"]],
            pd.Timestamp(f["test_start"], tz="UTC").to_pydatetime(),
            pd.Timestamp(f["test_end"], tz="UTC").to_pydatetime(),
        )
        for f in report.folds
        if f["fold"] in report.boosters
    ]
    say(f"economic gate: trading {len(folds)} out-of-sample folds through the backtest engine ({step} bars)")
    gates.append(
        economic_gate(folds, bars, str(effective["source"]), settings, horizon=effective["horizon"], progress=say)
    )
    return gate_report(gates)


def single_symbol_gate(symbols: tuple[str, ...]) -> Gate:
    """The economic gate cannot judge a one-symbol universe: the blend then holds that symbol at weight 1
    whatever the model says (a confident SELL falls back to it too), so the model's book and
    liquidity-only's are the same portfolio and no backtest could show an edge. Not applicable is
    not passed: auto activation needs evidence, and this training data cannot give it."""
    return Gate(
        "economic",
        False,
        f"not applicable: a one-symbol universe ({', '.join(symbols) or 'none'}) trades the same portfolio with "
        "and without the model, so there is no evidence it earns anything; train on two or more symbols, or "
        "activate with --activate force (recorded as forced) or QT_MODEL_ECONOMIC_GATE=0",
        details={"applicable": False, "symbols": list(symbols)},
    )


def start_run(
    request: TrainingRequest, settings: Settings, registry: ModelRegistry
) -> tuple[RunRecord, dict[str, Any]]:
    """Record the run as 'running' and return it with the effective parameters."""
    effective = resolve_request(request, settings)
    params = {**booster_params(settings, effective["seed"]).as_dict(), "request": effective}
    run = registry.start_run(dataset={"source": effective["source"], "status": "loading"}, params=params)
    return run, effective


def execute_run(
    run: RunRecord,
    effective: dict[str, Any],
    settings: Settings,
    registry: ModelRegistry,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    on_activated: Callable[[RunRecord], object] | None = None,
    stop: Callable[[], bool] | None = None,
) -> TrainingOutcome:
    """Carry out a started run; the row ends completed or failed (with the error), never running."""
    try:
        return _execute(
            run, effective, settings, registry, progress=progress, now=now, on_activated=on_activated, stop=stop
        )
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, DataError) else f"data problem: {exc}"
        try:
            registry.fail_run(run.id, message)
        except Exception:
            log.exception("could not record the failed run", extra={"version": run.version})
        raise


def _execute(
    run: RunRecord,
    effective: dict[str, Any],
    settings: Settings,
    registry: ModelRegistry,
    *,
    progress: Progress | None,
    now: datetime | None,
    on_activated: Callable[[RunRecord], object] | None,
    stop: Callable[[], bool] | None = None,
) -> TrainingOutcome:
    beat = registry.heartbeat_every(run.id)
    report_progress: Progress = progress or (lambda _msg: None)

    def say(message: str) -> None:
        beat()
        report_progress(message)

    def keep_going() -> bool:  # polled after every boosting round
        beat()
        return stop() if stop is not None else False

    t0 = time.perf_counter()
    interval = effective["interval"]
    horizon = effective["horizon"]
    say(f"run {run.version}: loading {interval} bars from {effective['source']}")
    # the data ends with the last bar that has closed: the one still forming has no close yet (a
    # source may serve it, the simulated market and Binance do); idempotent for an end already
    # just before a bar boundary, as the retrain worker passes
    end = floor_time((now or datetime.now(UTC)) + _MS, interval) - _MS
    data = load_training_data(
        effective["source"],
        settings,
        symbols=effective["symbols"],
        interval=interval,
        days=effective["days"],
        end=end,
        extra_bars=WARMUP_BARS + horizon,
        progress=say,
    )
    bars = data.bars
    dataset = build_dataset(
        bars,
        horizon=horizon,
        threshold=effective["threshold"],
        vol_scaled=effective["vol_scaled"],
        sentiment=data.sentiment,
        description=data.description,
    )
    registry.update_run_dataset(run.id, dataset.description)
    say(f"dataset: {len(dataset)} rows, {len(bars.symbols)} symbols, classes {dataset.class_counts()}")
    params = booster_params(settings, effective["seed"])
    fee_bps = float(settings.execution.paper_fee_bps)
    report = walk_forward(
        dataset,
        params,
        n_folds=effective["folds"],
        embargo=effective["embargo"],
        fee_bps=fee_bps,
        progress=say,
        stop=keep_going,
    )
    say(
        f"out of sample: log loss {report.model_log_loss:.4f} vs class prior {report.prior_log_loss:.4f}, "
        f"direction-blind {report.blind_log_loss:.4f}"
    )
    gates = _gates(report, data.bars, effective, settings, say)
    for gate in gates["gates"]:
        say(f"gate {gate['name']}: {'passed' if gate['passed'] else 'FAILED'}: {gate['reason']}")
    say(f"final fit on {len(dataset)} rows")
    booster = fit_booster(dataset.features, dataset.labels, params, stop=keep_going)
    in_sample = classification_metrics(dataset.labels, predict_proba(booster, dataset.features))
    trained_at = datetime.now(UTC)
    metadata = {
        "trained_at": trained_at.isoformat(),
        "feature_version": FEATURE_VERSION,
        "features": list(FEATURE_NAMES),
        "classes": [c.value for c in CLASSES],
        "interval": interval,
        "interval_seconds": interval_delta(interval).total_seconds(),
        "horizon_bars": horizon,
        "label_threshold": effective["threshold"],
        "label_vol_scaled": effective["vol_scaled"],
        "warmup_bars": WARMUP_BARS,
        "libraries": library_versions(),
        "params": params.as_dict(),
        "booster_params": asdict(params),
        "data": dataset.description,
        "evaluation": {
            "folds": report.folds,
            "oos": report.oos,
            "n_folds": effective["folds"],
            "purge_bars": horizon,
            "embargo_bars": effective["embargo"],
        },
        "final": {"in_sample": in_sample, "rows": len(dataset)},
        "summary": metrics_summary(report),
        "gates": gates,
    }
    path, digest = registry.save_artifact(run.version, booster, metadata)
    say(f"saved {path} (sha256 {digest[:12]}…)")
    decision = activation_decision(ActivationPolicy(effective["activate"]), gates)
    if decision.activated and interval != settings.model.interval:
        decision = Activation(
            False,
            False,
            f"not activated: trained on {interval} bars but the service scores {settings.model.interval} "
            "(QT_MODEL_INTERVAL)",
            decision.failed,
        )
    metrics = {
        "summary": metrics_summary(report),
        "gates": gates,
        "activation": decision.as_dict(effective["activate"]),
        "oos": report.oos,
        "folds": report.folds,
        "final_in_sample": in_sample,
        "feature_importance": feature_importance(booster),
        "train_seconds": round(time.perf_counter() - t0, 3),
    }
    completed = registry.complete_run(run.id, metrics=metrics, model_path=path / MODEL_FILE, sha256=digest)
    activated, reason = decision.activated, decision.reason
    if activated:
        completed = registry.activate(run.version)
        if on_activated is not None:
            on_activated(completed)
    say(f"{run.version}: {reason}")
    removed = registry.prune(settings.model.keep_versions)
    if removed:
        say(f"pruned {len(removed)} old model(s): {', '.join(removed)}")
    return TrainingOutcome(completed, activated, reason, report, metadata)


def train(
    request: TrainingRequest,
    settings: Settings,
    registry: ModelRegistry,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    on_activated: Callable[[RunRecord], object] | None = None,
) -> TrainingOutcome:
    """Start and execute a run in one call (CLI and bootstrap)."""
    run, effective = start_run(request, settings, registry)
    return execute_run(run, effective, settings, registry, progress=progress, now=now, on_activated=on_activated)


def history_window(end: datetime, interval: str, days: int, extra_bars: int) -> tuple[datetime, datetime]:
    """[start, end] covering ``days`` plus ``extra_bars`` bars of warm-up/horizon."""
    step = interval_delta(interval)
    return end - timedelta(days=days) - extra_bars * step, end
