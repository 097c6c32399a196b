"""Per-trade notional: a fat-finger limit on the size of any one order, sales included."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backend.risk.models import RuleName
from backend.risk.rules.base import OrderView, Rule, is_positive_finite
from config.risk import RiskSettings


@dataclass(frozen=True, slots=True)
class NotionalConfig:
    max_notional: Decimal


class NotionalPerTradeRule(Rule[NotionalConfig]):
    name = RuleName.NOTIONAL_PER_TRADE
    description = "Quantity must be positive and quantity × price at most QT_MAX_NOTIONAL_PER_TRADE."

    @classmethod
    def config_from(cls, settings: RiskSettings) -> NotionalConfig:
        return NotionalConfig(max_notional=settings.max_notional_per_trade)

    def evaluate(self, view: OrderView) -> str | None:
        quantity = view.quantity
        if not is_positive_finite(quantity):
            return f"quantity {quantity} is not a finite positive number"
        if view.notional > self.config.max_notional:
            return f"notional {view.notional:.2f} exceeds the per-trade limit {self.config.max_notional}"
        return None
