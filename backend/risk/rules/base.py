"""The rule contract: a small class with a typed config, evaluated against an `OrderView`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar

from backend.exchanges.base import OrderRequest, OrderSide
from backend.risk.models import ZERO, RiskContext, RuleName
from backend.risk.protections import DrawdownReading
from config.risk import RiskSettings

C = TypeVar("C")


def as_decimal(value: Any) -> Decimal | None:
    """A Decimal for Decimal/int/float/str input; None when it is not a number at all."""
    if isinstance(value, Decimal):
        return value
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


def is_positive_finite(value: Decimal | None) -> bool:
    return value is not None and value.is_finite() and value > 0


@dataclass(frozen=True, slots=True)
class GuardState:
    """What the guard adds to the caller's context, read under its lock."""

    kill_switch: bool
    kill_switch_reason: str | None
    realised_pnl_today: Decimal
    pending: Mapping[str, Decimal]  # signed notional per symbol: reservations + fills after the context
    # the protections (backend/risk/protections.py)
    notional_today: Decimal = ZERO  # quote recorded as traded in the UTC day
    pending_turnover: Decimal = ZERO  # |notional| of the other orders checked and not yet recorded
    last_loss_exit: datetime | None = None  # the order's symbol's last loss-making sale
    drawdown: DrawdownReading | None = None  # the latest equity drawdown reading


class OrderView:
    """One order under check, with the figures rules need computed once and only when asked.

    Rules after price sanity may rely on ``price`` being finite and positive.
    """

    def __init__(self, order: OrderRequest, context: RiskContext, state: GuardState) -> None:
        self.order = order
        self.context = context
        self.state = state

    @property
    def now(self) -> datetime:
        return self.context.now

    @property
    def symbol(self) -> str:
        return self.order.symbol

    @cached_property
    def raw_price(self) -> object:
        """The price checked: the limit price, else the plan's reference price, else the context's."""
        order = self.order
        raw = order.price if order.price is not None else order.reference_price
        return raw if raw is not None else self.context.reference_price

    @cached_property
    def price(self) -> Decimal | None:
        return as_decimal(self.raw_price)

    @cached_property
    def reference_price(self) -> Decimal | None:
        return as_decimal(self.context.reference_price)

    @cached_property
    def quantity(self) -> Decimal | None:
        return as_decimal(self.order.quantity)

    @cached_property
    def notional(self) -> Decimal:
        """quantity × price; a buy sent by quote amount is that amount (what the fill can spend at most)."""
        if self.quantity is None or self.price is None:
            raise ValueError("notional asked before price and quantity were checked")
        quote = as_decimal(self.order.quote_quantity)
        if quote is not None and quote.is_finite() and quote > 0:
            return quote
        return self.quantity * self.price

    @property
    def safe_notional(self) -> Decimal | None:
        """The notional when price and quantity are finite positive numbers, else None."""
        if is_positive_finite(self.price) and is_positive_finite(self.quantity):
            return self.notional
        return None

    @property
    def reducing(self) -> bool:
        """Spot is long-only: a sale can only lower (or keep) the symbol's exposure."""
        return self.order.side is OrderSide.SELL

    @cached_property
    def delta(self) -> Decimal:
        return self.notional if self.order.side is OrderSide.BUY else -self.notional

    @cached_property
    def exposures(self) -> dict[str, Decimal]:
        """Current notional per symbol: the caller's positions plus what the guard has pending."""
        merged = {symbol: as_decimal(value) or ZERO for symbol, value in self.context.positions.items()}
        for symbol, value in self.state.pending.items():
            merged[symbol] = merged.get(symbol, ZERO) + value
        return merged

    @cached_property
    def current_symbol_exposure(self) -> Decimal:
        return self.exposures.get(self.symbol, ZERO)

    @cached_property
    def projected_symbol_exposure(self) -> Decimal:
        projected = self.current_symbol_exposure + self.delta
        # a spot sale cannot go below zero: the exchange refuses to sell what is not held
        return max(projected, ZERO) if self.reducing else projected

    @cached_property
    def current_gross_exposure(self) -> Decimal:
        return sum((abs(value) for value in self.exposures.values()), ZERO)

    @cached_property
    def projected_gross_exposure(self) -> Decimal:
        current = self.current_symbol_exposure
        return self.current_gross_exposure - abs(current) + abs(self.projected_symbol_exposure)


class Rule(ABC, Generic[C]):
    """One check. ``evaluate`` returns None to pass, or the reason for refusing."""

    name: ClassVar[RuleName]
    description: ClassVar[str]
    # False: orders that reduce exposure (sales) skip this rule
    checks_reducing: ClassVar[bool] = True

    def __init__(self, config: C) -> None:
        self.config = config

    @classmethod
    @abstractmethod
    def config_from(cls, settings: RiskSettings) -> C:
        """This rule's typed config, taken from the live risk settings."""

    @abstractmethod
    def evaluate(self, view: OrderView) -> str | None: ...

    @classmethod
    def build(cls, settings: RiskSettings) -> Rule[C]:
        return cls(cls.config_from(settings))
