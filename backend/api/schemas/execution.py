"""Execution runs and the portfolio's history (money and quantities as decimal strings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from backend.api.schemas.numbers import Amount
from backend.api.schemas.portfolio import FillOut, OrderOut, _Money


class SkippedOut(_Money):
    symbol: str
    side: str = Field(description='BUY, SELL, or "?" when the side was not known yet (no mark, no rules).')
    notional: Amount | None = Field(description="What the order would have been worth at the mark.")
    reason: str
    kind: str = Field(
        description="The reason's kind: dust, below_minimum, limit, risk_refused, kill_switch, max_orders, cash, "
        "exchange_filter, market, stopped or other."
    )
    dust: bool = Field(description="A sell of a holding below the exchange's minimum: it cannot be sold alone.")


class DustOut(BaseModel):
    symbol: str
    quantity: str
    value: str | None
    reason: str


class ShortfallOut(_Money):
    orders: int = Field(description="Orders that executed something.")
    quote: Amount = Field(description="Σ (average fill − arrival mark) × quantity, a cost positive.")
    bps: Amount | None = Field(description="quote / arrival_notional in basis points.")
    arrival_notional: Amount
    fees: Amount = Field(description="The same orders' fees in the quote asset, apart from the shortfall.")


class RunSummary(_Money):
    id: int
    kind: str = Field(description="cycle or reconcile.")
    exchange: str
    status: str = Field(description="running, ok, degraded, skipped, halted or failed.")
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    equity: Amount | None
    gross_exposure: Amount | None
    orders_planned: int
    orders_submitted: int
    orders_skipped: int
    orders_failed: int
    orders_saved: int = Field(description="Orders of this run in the ledger (sent, refused or skipped after saving).")
    reason: str | None = Field(description="Why the cycle ended as it did (halted, skipped, failed).")
    error: str | None
    skipped_by_kind: dict[str, int] = Field(description="How many skipped orders of each kind.")
    dust: int = Field(description="Holdings below the exchange minimum at this cycle.")
    shortfall: ShortfallOut | None = Field(
        None, description="The cycle's implementation shortfall summed over its executed orders (fees apart)."
    )


class RunsResponse(BaseModel):
    limit: int
    offset: int
    total: int
    runs: list[RunSummary]


class OrderWithFills(OrderOut):
    fills: list[FillOut]
    fees_quote: Amount = Field(description="This order's fees in the quote asset.")


class RunDetailResponse(BaseModel):
    run: RunSummary
    orders: list[OrderWithFills] = Field(description="The plan: every order saved for this run, with its fills.")
    skipped: list[SkippedOut]
    errors: dict[str, str] = Field(description="Per order (client order id) or per step.")
    unresolved_orders: list[str]
    dust: list[DustOut]
    details: dict[str, Any] = Field(description="The run's details as stored (reconciliation runs keep theirs here).")


class HistoryPoint(_Money):
    time: datetime
    source: str = Field(description="cycle (after a rebalance cycle) or hourly (the portfolio-mark job).")
    run_id: int | None
    equity: Amount
    cash: Amount
    gross_exposure: Amount
    realised_pnl: Amount
    unrealised_pnl: Amount
    fees_paid: Amount
    high_water: Amount = Field(description="The highest equity marked up to this point.")
    drawdown: Amount = Field(description="(equity - high_water) / high_water: 0 at a high, negative below it.")


class HistoryResponse(_Money):
    exchange: str
    quote_asset: str
    since: datetime | None
    until: datetime
    step_seconds: int | None = Field(description="The step used: the last mark of each step is shown.")
    marks_in_range: int
    max_drawdown: Amount = Field(description="The deepest drawdown of any mark in the range.")
    points: list[HistoryPoint]
