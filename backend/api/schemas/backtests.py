"""Schemas of /backtests: the request that starts a run, a run's summary, its detail and its equity curves."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.api.schemas.base import RequestModel
from backend.api.schemas.numbers import Amount
from backend.backtest.request import BacktestRequest


class BacktestCreate(RequestModel, BacktestRequest):
    """POST /backtests: what to run (every field optional except ``end`` for the simulated source)."""


class BacktestSummary(BaseModel):
    id: int
    status: Literal["queued", "running", "completed", "failed"]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    data_range: dict[str, Any] | None = Field(description="data, interval, start, end, bars, candles")
    net_returns: dict[str, float] | None = Field(description="total_return of the strategy and each baseline")
    report_url: str | None = Field(description="GET it for the HTML report (when completed)")
    error: str | None


class BacktestDetail(BacktestSummary):
    params: dict[str, Any] = Field(description="The request as accepted")
    metrics: dict[str, Any] | None = Field(description="metrics.json's figures per book")
    requested_by: str | None = Field(description="Fingerprint of the admin token that started it")
    warnings: list[str] = Field(
        default_factory=list,
        description="metrics.json's warnings (holes in the data, refreshes that selected nothing, a model's "
        "look-ahead, retrainings that gave no model): why a run may have traded little or nothing",
    )


class BacktestList(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[BacktestSummary]


class EquityPoint(BaseModel):
    time: datetime
    equity: Amount


class EquityCurve(BaseModel):
    book: str = Field(description="strategy, or a baseline's name")
    points_in_run: int = Field(description="How many points the run recorded for this book")
    step: int = Field(
        description="The first point (the all-cash start), then the last of each run of `step` points (1: every point)"
    )
    points: list[EquityPoint]


class BacktestEquity(BaseModel):
    id: int
    max_points: int = Field(description="The cap asked for: no curve has more points")
    curves: list[EquityCurve] = Field(description="The strategy first, then each baseline")
