"""Kill switch: while on, no order passes, whatever it does to exposure."""

from __future__ import annotations

from dataclasses import dataclass

from backend.risk.models import RuleName
from backend.risk.rules.base import OrderView, Rule
from config.risk import RiskSettings


@dataclass(frozen=True, slots=True)
class KillSwitchConfig:
    """No parameters: the effective state (override or QT_KILL_SWITCH) comes from the guard."""


class KillSwitchRule(Rule[KillSwitchConfig]):
    name = RuleName.KILL_SWITCH
    description = "Refuses every order while the kill switch is on."

    @classmethod
    def config_from(cls, settings: RiskSettings) -> KillSwitchConfig:
        return KillSwitchConfig()

    def evaluate(self, view: OrderView) -> str | None:
        if view.state.kill_switch:
            reason = view.state.kill_switch_reason
            return f"kill switch is on ({reason})" if reason else "kill switch is on"
        return None
