"""Daily realised loss: once the UTC day's recorded realised loss reaches the limit, no new risk."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backend.risk.models import RuleName
from backend.risk.rules.base import OrderView, Rule
from config.risk import RiskSettings


@dataclass(frozen=True, slots=True)
class DailyLossConfig:
    max_daily_loss: Decimal


class DailyLossRule(Rule[DailyLossConfig]):
    name = RuleName.DAILY_LOSS
    description = "Refuses new risk once today's (UTC) recorded realised PnL is at or below -QT_MAX_DAILY_LOSS."
    checks_reducing = False  # selling is how a losing book gets smaller

    @classmethod
    def config_from(cls, settings: RiskSettings) -> DailyLossConfig:
        return DailyLossConfig(max_daily_loss=settings.max_daily_loss)

    def evaluate(self, view: OrderView) -> str | None:
        loss = -view.state.realised_pnl_today
        if loss >= self.config.max_daily_loss:
            return f"realised loss today {loss:.2f} has reached the daily limit {self.config.max_daily_loss}"
        return None
