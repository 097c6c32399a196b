"""What one rebalance cycle did (orders planned, sent, skipped, failed; equity; dust; shortfall)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from backend.amounts import decimal_text
from backend.execution.shortfall import ShortfallSum

if TYPE_CHECKING:
    from backend.execution.startup import ReconcileReport

ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass
class CycleReport:
    run_id: int | None
    status: str  # ok | degraded | halted | skipped | failed
    planned: int = 0
    submitted: int = 0
    skipped: int = 0
    failed: int = 0
    filled: int = 0
    equity: Decimal = ZERO
    gross_exposure: Decimal = ZERO
    cash: Decimal = ZERO
    reason: str | None = None
    skipped_orders: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)
    dust: list[dict[str, Any]] = field(default_factory=list)  # holdings below the exchange minimum
    shortfall: ShortfallSum = field(default_factory=ShortfallSum)  # backend/execution/shortfall.py

    def details(self) -> dict[str, Any]:
        return {
            "last_run_id": self.run_id,
            "status": self.status,
            "orders_planned": self.planned,
            "orders_submitted": self.submitted,
            "orders_skipped": self.skipped,
            "orders_failed": self.failed,
            "orders_filled": self.filled,
            "equity": decimal_text(self.equity.quantize(CENT)),
            "gross_exposure": decimal_text(self.gross_exposure.quantize(CENT)),
            "cash": decimal_text(self.cash.quantize(CENT)),
            "reason": self.reason,
            "unresolved_orders": self.unresolved,
            "shortfall": self.shortfall.as_dict(),
        }

    def run_record(self) -> dict[str, Any]:
        """The cycle's row in execution_runs (status, figures, details)."""
        return {
            "status": self.status,
            "equity": self.equity,
            "gross_exposure": self.gross_exposure,
            "orders_planned": self.planned,
            "orders_submitted": self.submitted,
            "orders_skipped": self.skipped,
            "orders_failed": self.failed,
            "details": {
                "reason": self.reason,
                "skipped": self.skipped_orders,
                "errors": self.errors,
                "unresolved_orders": self.unresolved,
                "dust": self.dust,
                "shortfall": self.shortfall.as_dict(),
            },
            "error": self.reason if self.status == "failed" else None,
        }


def health_reasons(rec: ReconcileReport | None, last: CycleReport | None) -> list[str]:
    """What /health says about execution: a failed start-up reconciliation or cycle, unknown orders."""
    reasons: list[str] = []
    if rec is not None:
        if rec.error:
            reasons.append(f"start-up reconciliation failed: {rec.error}")
        if rec.unresolved:
            reasons.append(f"orders with unknown outcome: {', '.join(rec.unresolved)}")
    if last is not None and last.status == "failed":
        reasons.append(f"last cycle failed: {last.reason}")
    if last is not None and last.unresolved:
        reasons.append(f"orders with unknown outcome: {', '.join(last.unresolved)}")
    return reasons
