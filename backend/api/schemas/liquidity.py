"""Schemas of /liquidity and /liquidity/refresh."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.api.schemas.health import JobLastRun
from backend.api.schemas.numbers import Amount
from backend.liquidity.selection import Selection


class PickOut(BaseModel):
    rank: int
    symbol: str
    base_asset: str
    weight: Amount
    liquidity_score: float
    liquidity_component: float = Field(description="Liquidity score relative to the best ranked symbol (0..1).")
    model_score: float | None = Field(description="0 = sure SELL, 0.5 = neutral, 1 = sure BUY; null without a model.")
    blended_score: float
    model_action: Literal["BUY", "HOLD", "SELL"] | None
    model_confidence: float | None
    strong_sell: bool


class LiquidityRunOut(BaseModel):
    run_id: int | None
    created_at: datetime
    status: Literal["ok", "degraded"]
    problems: dict[str, str]
    blend_mode: Literal["blended", "liquidity_only"]
    market_source: str
    data_taken_at: datetime | None
    model_version: str | None
    duration_seconds: float
    weights: dict[str, Amount] = Field(description="Symbol -> weight; the weights sum to exactly 1.")
    selection: list[PickOut]
    analytics: dict[str, Any]

    @classmethod
    def of(cls, selection: Selection) -> LiquidityRunOut:
        return cls(
            run_id=selection.run_id,
            created_at=selection.created_at,
            status=selection.status,
            problems=selection.problems,
            blend_mode=selection.blend_mode,
            market_source=selection.market_source,
            data_taken_at=selection.data_taken_at,
            model_version=selection.model_version,
            duration_seconds=round(selection.duration_seconds, 6),
            weights=selection.weights,
            selection=[
                PickOut(
                    rank=rank,
                    symbol=p.symbol,
                    base_asset=p.base,
                    weight=p.weight,
                    liquidity_score=p.liquidity_score,
                    liquidity_component=p.liquidity_component,
                    model_score=p.model_component,
                    blended_score=p.blended_score,
                    model_action=p.action.value if p.action is not None else None,
                    model_confidence=p.confidence,
                    strong_sell=p.strong_sell,
                )
                for rank, p in enumerate(selection.picks, start=1)
            ],
            analytics=selection.analytics,
        )


class LiquidityResponse(BaseModel):
    selection: LiquidityRunOut | None = Field(description="The selection in force (null before the first run).")
    last_run: LiquidityRunOut | None = Field(
        description="The newest run; differs from `selection` when it selected nothing."
    )


class LiquidityRefreshResponse(BaseModel):
    job: JobLastRun = Field(description="The run of the liquidity-refresh job, as /scheduler/status reports it.")
    run: LiquidityRunOut | None = Field(description="The liquidity run it produced (null when it failed or skipped).")


class Exclusion(BaseModel):
    filter: str = Field(description="The first filter of the chain that refused the symbol.")
    reason: str


class LiquidityExclusionsResponse(BaseModel):
    run_id: int | None = Field(description="The newest run (null before the first run).")
    created_at: datetime | None
    exclusions: dict[str, Exclusion] = Field(description="Symbol -> the filter that removed it and why.")
