"""Symbol cooldown: no new buy of a symbol for QT_SYMBOL_COOLDOWN_MINUTES after a loss-making sale of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from backend.risk.models import RuleName
from backend.risk.rules.base import OrderView, Rule
from config.risk import RiskSettings


@dataclass(frozen=True, slots=True)
class CooldownConfig:
    minutes: float  # 0: off


class SymbolCooldownRule(Rule[CooldownConfig]):
    name = RuleName.SYMBOL_COOLDOWN
    description = (
        "Refuses a buy of a symbol until QT_SYMBOL_COOLDOWN_MINUTES have passed since its last "
        "loss-making sale (an execution recorded with negative realised PnL)."
    )
    checks_reducing = False  # sales are never held back

    @classmethod
    def config_from(cls, settings: RiskSettings) -> CooldownConfig:
        return CooldownConfig(minutes=settings.symbol_cooldown_minutes)

    def evaluate(self, view: OrderView) -> str | None:
        exited = view.state.last_loss_exit
        if self.config.minutes <= 0 or exited is None:
            return None
        until = exited + timedelta(minutes=self.config.minutes)
        if view.now >= until:
            return None
        return (
            f"{view.symbol} is cooling down after a loss-making sale at {exited.isoformat()}: "
            f"no buy before {until.isoformat()} (QT_SYMBOL_COOLDOWN_MINUTES={self.config.minutes:g})"
        )
