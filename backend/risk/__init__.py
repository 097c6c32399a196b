"""Risk guard: rules, the guard (check + record under one lock), its state store, GuardedExchange.

No order reaches an exchange adapter without passing ``GuardedExchange.submit_order``.
"""

from backend.risk.guard import AUTO_HALT_REASON, RiskGuard
from backend.risk.guarded import GuardedExchange
from backend.risk.models import (
    Decision,
    KillSwitchState,
    RiskContext,
    RiskRefused,
    RiskSnapshot,
    RiskStateUnavailable,
    RuleName,
    TradeRecord,
)
from backend.risk.store import RiskStateStore

__all__ = [
    "AUTO_HALT_REASON",
    "Decision",
    "GuardedExchange",
    "KillSwitchState",
    "RiskContext",
    "RiskGuard",
    "RiskRefused",
    "RiskSnapshot",
    "RiskStateStore",
    "RiskStateUnavailable",
    "RuleName",
    "TradeRecord",
]
