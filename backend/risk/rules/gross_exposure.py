"""Projected gross exposure: the summed notional of every symbol after this order stays under the cap."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backend.risk.models import RuleName
from backend.risk.rules.base import OrderView, Rule
from config.risk import RiskSettings


@dataclass(frozen=True, slots=True)
class GrossExposureConfig:
    max_gross: Decimal | None  # None: off


class GrossExposureRule(Rule[GrossExposureConfig]):
    name = RuleName.GROSS_EXPOSURE
    description = "Projected gross exposure (Σ |notional| over symbols, pending included) ≤ QT_MAX_GROSS_EXPOSURE."
    checks_reducing = False  # a sale lowers gross exposure

    @classmethod
    def config_from(cls, settings: RiskSettings) -> GrossExposureConfig:
        return GrossExposureConfig(max_gross=settings.max_gross_exposure)

    def evaluate(self, view: OrderView) -> str | None:
        limit = self.config.max_gross
        if limit is None:
            return None
        projected = view.projected_gross_exposure
        if projected > limit:
            return f"projected gross exposure {projected:.2f} exceeds the limit {limit}"
        return None
