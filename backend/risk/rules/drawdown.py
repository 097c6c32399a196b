"""Equity drawdown: no new buys while equity marked to market is QT_MAX_DRAWDOWN_PCT below the
high-water mark of the portfolio marks over QT_DRAWDOWN_WINDOW_DAYS (the halt itself: RiskGuard.note_drawdown)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backend.risk.models import RuleName
from backend.risk.rules.base import OrderView, Rule
from config.risk import RiskSettings


@dataclass(frozen=True, slots=True)
class DrawdownConfig:
    max_drawdown_pct: Decimal | None  # None: off


class EquityDrawdownRule(Rule[DrawdownConfig]):
    name = RuleName.EQUITY_DRAWDOWN
    description = (
        "Refuses new buys while equity (portfolio marks) is QT_MAX_DRAWDOWN_PCT or more below its "
        "high-water mark over QT_DRAWDOWN_WINDOW_DAYS; the first breach also turns the kill switch on."
    )
    checks_reducing = False  # selling is how a losing book gets smaller

    @classmethod
    def config_from(cls, settings: RiskSettings) -> DrawdownConfig:
        return DrawdownConfig(max_drawdown_pct=settings.max_drawdown_pct)

    def evaluate(self, view: OrderView) -> str | None:
        reading = view.state.drawdown
        limit = self.config.max_drawdown_pct
        if reading is None or not reading.breaches(limit):
            return None
        return f"{reading.describe()}: the drawdown limit is {limit}%"
