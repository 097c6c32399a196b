"""Schemas of /health, /health/scheduler and /scheduler/*."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class DatabaseHealth(BaseModel):
    reachable: bool
    checked_at: datetime | None
    error: str | None = None


class JobLastRun(BaseModel):
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    status: Literal["ok", "degraded", "failed", "follower", "skipped"]
    manual: bool
    error: str | None = None
    errors: dict[str, str] = Field(default_factory=dict)


class JobStatus(BaseModel):
    description: str
    trigger: str = Field(description='"interval[Ns]" or "not scheduled"')
    interval_seconds: int
    enabled: bool
    running: bool
    next_run_time: datetime | None
    last_run: JobLastRun | None
    details: dict[str, Any] = Field(default_factory=dict)


class SchedulerSummary(BaseModel):
    running: bool
    paused: bool
    role: Literal["leader", "follower", "unknown"]
    jobs: dict[str, str | None] = Field(description="job id -> status of its last run (null: not run yet)")


class ChallengerHealth(BaseModel):
    """A retrained challenger while it trains or shadows the champion (see /ai/model-info)."""

    status: Literal["training", "shadowing"]
    cycle_id: int
    challenger_version: str | None
    champion_version: str | None
    bars_recorded: int = Field(description="Live bar times with both models' predictions recorded.")
    shadow_bars: int | None = Field(description="Bar times to record and settle before the comparison.")


class ModelHealth(BaseModel):
    status: Literal["none", "active", "stale", "refused", "mismatch"]
    version: str | None
    reason: str | None = None
    forced: bool = Field(
        False, description="The active model was activated although activation gates failed (--activate force)."
    )
    failed_gates: list[str] = Field(default_factory=list, description="The gates the active model failed.")
    challenger: ChallengerHealth | None = Field(None, description="Set while a challenger trains or shadows.")


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded", "read_only", "unavailable"]
    version: str
    uptime_seconds: float
    environment: str
    database: DatabaseHealth
    admin_auth: Literal["enabled", "disabled"]
    read_only: bool
    kill_switch: bool | None = Field(
        None, description="Whether the kill switch is on (null before the risk guard exists)."
    )
    reasons: list[str] = Field(default_factory=list, description="Why the status is not ok.")
    model: ModelHealth | None = Field(None, description="The model in use (null before the model component starts).")
    scheduler: SchedulerSummary


class SchedulerHealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    running: bool
    paused: bool
    role: Literal["leader", "follower", "unknown"]
    symbols: list[str]
    jobs: dict[str, JobStatus]
    errors: dict[str, Any]
    execution: dict[str, Any] | None = Field(
        None,
        description="The latest rebalance: orders planned/submitted/skipped/failed, gross_exposure, equity, "
        "last_run_id (null before the first cycle).",
    )


class SchedulerStatusResponse(SchedulerHealthResponse):
    configuration: dict[str, Any] = Field(description="Effective scheduler configuration.")


class SchedulerControlResponse(BaseModel):
    running: bool
    paused: bool
    reason: str | None = Field(
        None, description="Why scheduled runs do not happen although not paused (the scheduler is disabled)."
    )


class JobRunResponse(BaseModel):
    job_id: str
    run: JobLastRun
    details: dict[str, Any] = Field(default_factory=dict)
