"""Risk rules, in evaluation order (the first that refuses decides)."""

from __future__ import annotations

from typing import Any

from backend.risk.rules.base import GuardState, OrderView, Rule
from backend.risk.rules.cooldown import SymbolCooldownRule
from backend.risk.rules.daily_loss import DailyLossRule
from backend.risk.rules.drawdown import EquityDrawdownRule
from backend.risk.rules.gross_exposure import GrossExposureRule
from backend.risk.rules.kill_switch import KillSwitchRule
from backend.risk.rules.notional import NotionalPerTradeRule
from backend.risk.rules.position import PositionPerSymbolRule
from backend.risk.rules.price_sanity import PriceSanityRule
from backend.risk.rules.turnover import DailyTurnoverRule
from config.risk import RiskSettings

# The order is part of the contract: the kill switch first (nothing passes), then price sanity
# (later rules compute notionals from the price), then size, loss, the account-wide protections
# (drawdown, cooldown, turnover) and exposure limits.
RULES: tuple[type[Rule[Any]], ...] = (
    KillSwitchRule,
    PriceSanityRule,
    NotionalPerTradeRule,
    DailyLossRule,
    EquityDrawdownRule,
    SymbolCooldownRule,
    DailyTurnoverRule,
    PositionPerSymbolRule,
    GrossExposureRule,
)


def build_rules(settings: RiskSettings) -> list[Rule[Any]]:
    return [rule.build(settings) for rule in RULES]


__all__ = ["RULES", "GuardState", "OrderView", "Rule", "build_rules"]
