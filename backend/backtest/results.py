"""What a backtest is asked and what it answers: its configuration, each book's equity curve, fills
and metrics, and the universe selections it traded on (metrics.json, equity.csv, the report)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from backend.backtest.data import BacktestInputError
from backend.backtest.stats import book_metrics
from backend.market.source import interval_delta

STRATEGY = "strategy"
BASELINES = ("equal_weight", "liquidity_only", "hold_first")
ZERO = Decimal(0)


@dataclass(frozen=True)
class BacktestConfig:
    """What to run. Times are the clock's visits (a bar's close); None = the data's whole range."""

    start: datetime | None = None
    end: datetime | None = None
    symbols: tuple[str, ...] = ()  # empty: the universe the liquidity filters select
    market_bars: int = 1
    liquidity_bars: int = 4
    rebalance_bars: int = 4
    cash: Decimal | None = None  # None: QT_PAPER_STARTING_CASH
    fee_bps: Decimal | None = None  # None: QT_PAPER_FEE_BPS
    slippage_bps: Decimal | None = None  # None: walk the paper exchange's book
    baselines: tuple[str, ...] = BASELINES
    settings: Mapping[str, Any] = field(default_factory=dict)  # extra overrides by variable name

    def check(self) -> None:
        for name in ("market_bars", "liquidity_bars", "rebalance_bars"):
            if getattr(self, name) < 1:
                raise BacktestInputError(f"--{name.replace('_', '-')} must be at least 1 bar")
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise BacktestInputError(f"unknown baseline {', '.join(unknown)} (known: {', '.join(BASELINES)})")
        if self.cash is not None and self.cash <= 0:
            raise BacktestInputError("--cash must be positive")


@dataclass(frozen=True, slots=True)
class EquityPoint:
    time: datetime
    equity: Decimal
    cash: Decimal
    gross_exposure: Decimal


@dataclass
class BookResult:
    name: str
    equity: list[EquityPoint]
    orders: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    cycles: int
    holdings: dict[str, Decimal] = field(default_factory=dict)  # at the end
    marks: dict[str, Decimal] = field(default_factory=dict)  # the last marks

    def metrics(self, interval_seconds: int) -> dict[str, Any]:
        return book_metrics(
            self.equity,
            self.fills,
            self.orders,
            interval_seconds=interval_seconds,
            holdings=self.holdings,
            marks=self.marks,
        )

    @property
    def net_return(self) -> float:
        if not self.equity or self.equity[0].equity == 0:
            return 0.0
        return float(self.equity[-1].equity / self.equity[0].equity - 1)


@dataclass
class SelectionRecord:
    time: datetime
    weights: dict[str, Decimal]
    mode: str
    model_version: str | None


@dataclass
class BacktestResult:
    config: BacktestConfig
    data: str
    interval: str
    start: datetime
    end: datetime
    bars: int
    candles: int
    starting_cash: Decimal
    books: dict[str, BookResult]
    selections: list[SelectionRecord]
    settings: dict[str, Any]
    model: str = "none"
    warnings: list[str] = field(default_factory=list)  # holes in the data (backend/backtest/coverage.py)
    trainings: list[dict[str, Any]] = field(default_factory=list)  # --model walk-forward: each retraining
    # the effective value of every setting the environment or the run sets (the rest at their
    # defaults; secrets redacted): with the parameters, what it takes to run it again
    applied: dict[str, Any] = field(default_factory=dict)
    fee_bps: Decimal | None = None  # the taker fee the paper fills charged (--fee-bps or QT_PAPER_FEE_BPS)
    retrain_days: int | None = None  # --model walk-forward
    hold_symbol: str | None = None  # what hold_first held

    def net_returns(self) -> dict[str, float]:
        """Total return of the strategy and of each baseline, net of fees and slippage."""
        return {name: book.net_return for name, book in self.books.items()}

    def metrics(self) -> dict[str, dict[str, Any]]:
        """metrics.json's figures for the strategy and each baseline."""
        seconds = int(interval_delta(self.interval).total_seconds())
        return {name: book.metrics(seconds) for name, book in self.books.items()}


def order_row(order: Any) -> dict[str, Any]:
    """A ledger order as a row of orders.csv (the reason: its note and its error, when it has them)."""
    return {
        "time": order.created_at,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "status": order.status,
        "requested_quantity": order.requested_quantity,
        "executed_quantity": order.executed_quantity,
        "quote_quantity": order.quote_quantity,
        "reference_price": order.reference_price,
        "reason": "; ".join(x for x in (order.note, order.error_message) if x) or None,
    }


def fill_row(fill: Any) -> dict[str, Any]:
    """A ledger fill as a row of fills.csv."""
    return {
        "time": fill.time,
        "client_order_id": fill.client_order_id,
        "symbol": fill.symbol,
        "side": fill.side,
        "price": fill.price,
        "quantity": fill.quantity,
        "fee": fill.fee,
        "fee_asset": fill.fee_asset,
        "fee_quote": fill.fee_quote,
        "realised_pnl": fill.realised_pnl,
    }
