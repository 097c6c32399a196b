"""Schemas of /ai: model information, training runs, activation and training requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.api.schemas.base import RequestModel, Seed, Symbol


class GateResult(BaseModel):
    name: str = Field(description="fold_classes | class_prior | direction_blind | economic")
    passed: bool
    reason: str
    model: float | None = None
    baseline: float | None = None
    details: dict[str, Any] | None = None


class GateReport(BaseModel):
    passed: bool = Field(description="Every gate passed (--activate auto activates only then).")
    failed: list[str]
    gates: list[GateResult]
    skipped: dict[str, str] = Field(default_factory=dict, description="Gates not evaluated, with why.")


class RunSummary(BaseModel):
    """One training run (ModelTrainingRun row)."""

    id: int
    version: str
    status: Literal["running", "completed", "failed"]
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    is_active: bool
    activated_at: datetime | None
    model_path: str | None
    sha256: str | None
    error: str | None
    dataset: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    metrics_summary: dict[str, Any] | None = Field(None, description="Out-of-sample metrics and baseline comparison.")
    gates: GateReport | None = Field(None, description="The activation gates of the run (null: failed or older runs).")
    activation: dict[str, Any] | None = Field(
        None, description="The activation decision at training: policy, activated, forced, failed_gates, reason."
    )


class ChallengerCycle(BaseModel):
    """A retraining cycle: the challenger's way from training through its gates and shadowing to a verdict."""

    cycle_id: int
    status: Literal["training", "rejected", "failed", "shadowing", "promoted", "kept", "cancelled"]
    challenger_version: str | None
    champion_version: str | None = Field(description="The active model it was (or is) compared with.")
    run_id: int | None
    started_at: datetime
    finished_at: datetime | None
    shadow_after: datetime | None = Field(description="Bars opening after this (its training data's end) are shadowed.")
    shadow_bars: int | None
    bars_recorded: int | None = Field(description="Live bar times with both models' predictions recorded.")
    reason: str | None
    result: dict[str, Any] | None = Field(
        None, description="The comparison on live bars: log loss, net return per bar, signals, for each model."
    )
    steps: list[dict[str, Any]] = Field(default_factory=list, description="Every transition: time, status, reason.")


class RunDetail(RunSummary):
    """One run with everything recorded: per-fold metrics and the final model's feature importance."""

    folds: list[dict[str, Any]] = Field(default_factory=list)
    oos: dict[str, Any] | None = None
    feature_importance: dict[str, float] | None = Field(
        None, description="Total gain of each feature in the final model, largest first."
    )
    challenger: ChallengerCycle | None = Field(None, description="Set when the run was a retrained challenger.")


class BaselineComparison(BaseModel):
    model_log_loss: float | None
    class_prior_log_loss: float | None
    direction_blind_log_loss: float | None = None
    always_hold_log_loss: float | None
    model_accuracy: float | None
    always_hold_accuracy: float | None
    beats_class_prior: bool | None
    beats_direction_blind: bool | None = None


class ModelInfoResponse(BaseModel):
    """The active model; ``status`` is none, active, stale, refused or mismatch (with ``reason``)."""

    status: Literal["none", "active", "stale", "refused", "mismatch"]
    reason: str | None = None
    forced: bool = Field(False, description="Activated although activation gates failed.")
    failed_gates: list[str] = Field(default_factory=list)
    gates: GateReport | None = None
    active_version: str | None = None
    trained_at: datetime | None = None
    activated_at: datetime | None = None
    model_path: str | None = None
    sha256: str | None = None
    interval: str | None = None
    horizon_bars: int | None = None
    feature_version: str | None = None
    features: list[str] = Field(default_factory=list)
    classes: list[str] = Field(default_factory=list)
    library_versions: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] | None = Field(None, description="What the model was trained on (source, symbols, window).")
    metrics_summary: dict[str, Any] | None = None
    baseline_comparison: BaselineComparison | None = None
    training_in_progress: bool = False
    latest_run: RunSummary | None = Field(None, description="The newest run, when it is not the active one.")
    challenger: ChallengerCycle | None = Field(
        None, description="The latest retraining cycle (QT_MODEL_RETRAIN_HOURS): training, shadowing or its verdict."
    )


class RunsResponse(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[RunSummary]


class ActivateResponse(BaseModel):
    previous_version: str | None
    active_version: str
    status: Literal["none", "active", "stale", "refused", "mismatch"]
    forced: bool = False
    failed_gates: list[str] = Field(default_factory=list)
    reason: str | None = None
    warning: str | None = Field(
        None, description="Set when the activated model did not beat its baselines out of sample."
    )


class TrainRequest(RequestModel):
    """Every field is optional: the configured defaults apply (QT_MODEL_*, QT_MARKET_DATA_SOURCE)."""

    source: Literal["market", "database"] | None = Field(
        None,
        description=(
            "market (default): the configured QT_MARKET_DATA_SOURCE; database: the klines table the data "
            "pipeline stored. Other sources and directories are for the CLI, not the API."
        ),
    )
    symbols: list[Symbol] | None = Field(None, min_length=1, max_length=500, examples=[["BTCUSDT", "ETHUSDT"]])
    interval: str | None = Field(None, pattern=r"^(1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d)$")
    days: int | None = Field(None, ge=1, le=1000)
    horizon: int | None = Field(None, ge=1, le=500)
    seed: Seed | None = None
    activate: Literal["auto", "never", "force"] = "auto"


class TrainAcceptedResponse(BaseModel):
    run_id: int
    version: str
    status: Literal["running"]
