"""Projected position per symbol: the symbol's notional after this order stays under the cap."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backend.risk.models import RuleName
from backend.risk.rules.base import OrderView, Rule
from config.risk import RiskSettings


@dataclass(frozen=True, slots=True)
class PositionConfig:
    max_position: Decimal | None  # None: off


class PositionPerSymbolRule(Rule[PositionConfig]):
    name = RuleName.POSITION_PER_SYMBOL
    description = "The symbol's projected notional (positions + pending + this order) ≤ QT_MAX_POSITION_PER_SYMBOL."
    checks_reducing = False  # a sale lowers the position

    @classmethod
    def config_from(cls, settings: RiskSettings) -> PositionConfig:
        return PositionConfig(max_position=settings.max_position_per_symbol)

    def evaluate(self, view: OrderView) -> str | None:
        limit = self.config.max_position
        if limit is None:
            return None
        projected = abs(view.projected_symbol_exposure)
        if projected > limit:
            return f"projected {view.symbol} position {projected:.2f} exceeds the per-symbol limit {limit}"
        return None
