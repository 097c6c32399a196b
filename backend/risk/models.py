"""Values the risk guard works on: the context a caller supplies, decisions, kill switch state.

The order itself is `backend.exchanges.base.OrderRequest` (symbol, side, quantity, client order id,
limit price, the plan's reference price): the guard checks exactly what would be sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from backend.amounts import exact_sum
from backend.exchanges.base import OrderSide

if TYPE_CHECKING:
    from backend.risk.protections import DrawdownReading

ZERO = Decimal(0)
_EMPTY: Mapping[str, Decimal] = MappingProxyType({})


class RuleName(StrEnum):
    """Rule names, in evaluation order; they label `risk_decisions_total` and name refusals."""

    KILL_SWITCH = "kill_switch"
    PRICE_SANITY = "price_sanity"
    NOTIONAL_PER_TRADE = "notional_per_trade"
    DAILY_LOSS = "daily_loss"
    EQUITY_DRAWDOWN = "equity_drawdown"
    SYMBOL_COOLDOWN = "symbol_cooldown"
    DAILY_TURNOVER = "daily_turnover"
    POSITION_PER_SYMBOL = "position_per_symbol"
    GROSS_EXPOSURE = "gross_exposure"


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What the caller knows when it asks: its clock, the reference price, its positions.

    - ``now``: UTC-aware time of the check (rules never read a clock themselves).
    - ``reference_price`` / ``reference_time``: a mark for the order's symbol *independent of the
      price the order was planned at* (the execution service passes the 24h ticker's last trade
      price while it plans at the book mid) and when it was observed; the order price is compared
      with it and it must not be older than ``QT_MAX_PRICE_STALENESS_SECONDS``. After a fill the
      average fill price is compared with it too (``GuardedExchange``: outside the bound halts).
    - ``positions``: notional (quote asset, at mark) held per symbol, from the caller's ledger.
      The guard adds what it has reserved for orders checked but not yet recorded.
    - ``fill_sequence``: optional ``RiskGuard.fill_sequence`` read *before* the ledger was read;
      the guard then also adds fills it recorded after that point, which closes the window in
      which a fill is recorded but not yet visible in a ledger read taken earlier. Leave it None
      when the positions are known to include every recorded fill.
    """

    now: datetime
    reference_price: Decimal | None
    reference_time: datetime | None
    positions: Mapping[str, Decimal] = field(default_factory=lambda: _EMPTY)
    fill_sequence: int | None = None
    # when the order's own price (the plan's mark, e.g. the book mid) was observed; when given it
    # must be as fresh as the reference
    price_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The guard's answer. ``rule`` names the refusing rule (None when allowed)."""

    allowed: bool
    rule: RuleName | None
    reason: str
    notional: Decimal | None = None  # quantity × checked price, when it could be computed
    reducing: bool = False  # a sale: never adds exposure on spot

    def __bool__(self) -> bool:
        return self.allowed


class RiskRefused(Exception):
    """Raised by `GuardedExchange.submit_order` when the guard refuses; nothing was sent."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"{decision.rule}: {decision.reason}")
        self.decision = decision


class RiskStateUnavailable(RuntimeError):
    """The state store cannot be read or written; the guard refuses every order meanwhile."""


@dataclass(frozen=True, slots=True)
class KillSwitchOverride:
    """An operator's (or the automatic halt's) setting; ``enabled`` None means "config default"."""

    enabled: bool | None
    reason: str | None
    actor: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    enabled: bool  # effective
    default: bool  # QT_KILL_SWITCH
    override: bool | None
    reason: str | None
    actor: str | None
    updated_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "default": self.default,
            "override": self.override,
            "reason": self.reason,
            "actor": self.actor,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


# An order's part on a later UTC day is stored under "<client order id>@<YYYY-MM-DD>" (a client order
# id never holds "@": Binance allows ``[.A-Z:/a-z0-9_-]``, at most 36 characters).
PART_SEPARATOR = "@"


def part_key(client_order_id: str, day: date) -> str:
    """The store key of an order's part on a UTC day that is not its first."""
    return f"{client_order_id}{PART_SEPARATOR}{day.isoformat()}"


def parse_part_key(key: str) -> tuple[str, bool]:
    """``(client_order_id, later_day)`` of a store key (see ``part_key``)."""
    coid, separator, suffix = key.rpartition(PART_SEPARATOR)
    if separator and coid:
        try:
            date.fromisoformat(suffix)
        except ValueError:
            return key, False
        return coid, True
    return key, False


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One recorded execution: an order's fills on one UTC day, with the realised PnL the ledger
    computed for them. An order filled across UTC midnight is one record per day (each fill counts
    on its own day, as the ledger's ``realised_pnl_between``); ``time`` is the day's last fill.

    The order's first day is stored under its client order id, each later day (``later_day``) under
    ``part_key(client_order_id, day)``."""

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    notional: Decimal
    realised_pnl: Decimal
    time: datetime
    later_day: bool = False

    @property
    def day(self) -> date:
        return self.time.astimezone(UTC).date()

    @property
    def key(self) -> str:
        """Its row in the state store: one per order and UTC day."""
        return part_key(self.client_order_id, self.day) if self.later_day else self.client_order_id


@dataclass(frozen=True, slots=True)
class DayStats:
    day: date
    trades: int = 0
    notional: Decimal = ZERO
    realised_pnl: Decimal = ZERO

    def add(self, record: TradeRecord) -> DayStats:
        return DayStats(
            day=self.day,
            trades=self.trades + 1,
            notional=exact_sum((self.notional, record.notional)),
            realised_pnl=exact_sum((self.realised_pnl, record.realised_pnl)),
        )


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    """Everything GET /risk shows."""

    now: datetime
    kill_switch: KillSwitchState
    day: date
    trades_today: int
    notional_today: Decimal
    realised_pnl_today: Decimal
    loss_budget_left: Decimal
    gross_exposure: Decimal
    exposure_by_symbol: dict[str, Decimal]
    exposure_as_of: datetime | None
    pending_orders: int
    consecutive_exchange_failures: int
    state_store_error: str | None
    # the protections: the latest drawdown reading, symbols in cooldown (until when), pending turnover
    drawdown: DrawdownReading | None = None
    cooling_down: dict[str, datetime] = field(default_factory=dict)
    turnover_pending: Decimal = ZERO
