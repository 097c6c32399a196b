"""Daily turnover: at most QT_MAX_DAILY_TURNOVER quote traded per UTC day, buys and sales alike."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backend.risk.models import RuleName
from backend.risk.rules.base import OrderView, Rule
from config.risk import RiskSettings


@dataclass(frozen=True, slots=True)
class TurnoverConfig:
    max_turnover: Decimal | None  # None: off


class DailyTurnoverRule(Rule[TurnoverConfig]):
    name = RuleName.DAILY_TURNOVER
    description = (
        "Today's (UTC) recorded notional + orders pending + this order ≤ QT_MAX_DAILY_TURNOVER; sales "
        "count too (turnover is what costs fees and spread)."
    )

    @classmethod
    def config_from(cls, settings: RiskSettings) -> TurnoverConfig:
        return TurnoverConfig(max_turnover=settings.max_daily_turnover)

    def evaluate(self, view: OrderView) -> str | None:
        limit = self.config.max_turnover
        if limit is None:
            return None
        projected = view.state.notional_today + view.state.pending_turnover + view.notional
        if projected > limit:
            return (
                f"turnover today would reach {projected:.2f} (recorded {view.state.notional_today:.2f}, "
                f"pending {view.state.pending_turnover:.2f}, this order {view.notional:.2f}), above the "
                f"daily limit {limit}"
            )
        return None
