"""Implementation shortfall: what an order's execution cost against the mark it was decided at.

Per order: the arrival mark is the price the plan decided at (the book mid of the cycle's snapshot,
stored as the order's ``reference_price``); the shortfall is the average fill price's distance from
it, signed so that a cost is positive (a buy filled above the mark, a sale below it), in basis points
of the arrival mark and in quote (× executed quantity). Fees are kept apart (``fees``), never
folded in. Per cycle: the quote shortfalls summed, and in bps of the summed arrival notional.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
BPS = Decimal(10_000)
BPS_PLACES = Decimal("0.01")
QUOTE_PLACES = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class Shortfall:
    arrival_price: Decimal
    average_price: Decimal
    executed_quantity: Decimal
    bps: Decimal  # + cost, − improvement, of the arrival mark
    quote: Decimal  # the same in quote asset: (average − arrival) × quantity, signed by side
    fees: Decimal  # quote asset, apart

    @property
    def arrival_notional(self) -> Decimal:
        return self.arrival_price * self.executed_quantity


def shortfall_of(
    side: str, arrival_price: Decimal | None, executed_quantity: Decimal, quote_quantity: Decimal, fees: Decimal = ZERO
) -> Shortfall | None:
    """The order's shortfall, or None when nothing executed or no arrival mark is known."""
    if arrival_price is None or arrival_price <= 0 or executed_quantity <= 0:
        return None
    average = quote_quantity / executed_quantity
    sign = 1 if str(side).upper() == "BUY" else -1
    per_unit = (average - arrival_price) * sign
    return Shortfall(
        arrival_price=arrival_price,
        average_price=average,
        executed_quantity=executed_quantity,
        bps=(per_unit / arrival_price * BPS).quantize(BPS_PLACES),
        quote=(per_unit * executed_quantity).quantize(QUOTE_PLACES),
        fees=fees,
    )


@dataclass
class ShortfallSum:
    """A cycle's (or a backtest's) shortfall: orders counted, quote summed, bps of the arrival notional."""

    orders: int = 0
    quote: Decimal = ZERO
    arrival_notional: Decimal = ZERO
    fees: Decimal = ZERO
    items: list[Shortfall] = field(default_factory=list, repr=False)

    def add(self, item: Shortfall | None) -> None:
        if item is None:
            return
        self.orders += 1
        self.quote += item.quote
        self.arrival_notional += item.arrival_notional
        self.fees += item.fees

    def extend(self, items: Iterable[Shortfall | None]) -> ShortfallSum:
        for item in items:
            self.add(item)
        return self

    @property
    def bps(self) -> Decimal | None:
        if self.arrival_notional <= 0:
            return None
        return (self.quote / self.arrival_notional * BPS).quantize(BPS_PLACES)

    def as_dict(self) -> dict[str, object]:
        bps = self.bps
        return {
            "orders": self.orders,
            "quote": format(self.quote.quantize(QUOTE_PLACES).normalize(), "f"),
            "bps": None if bps is None else format(bps, "f"),
            "arrival_notional": format(self.arrival_notional.quantize(QUOTE_PLACES).normalize(), "f"),
            "fees": format(self.fees.quantize(QUOTE_PLACES).normalize(), "f"),
        }


__all__ = ["Shortfall", "ShortfallSum", "shortfall_of"]
