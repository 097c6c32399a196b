"""Average-cost accounting of one fill, in Decimal: the arithmetic the ledger persists.

Conventions (they make cash + Σ quantity × mark == contributed + realised + unrealised exact):
- the average cost excludes fees;
- realised PnL is net of fees: every fill's fee, converted to the quote asset, is realised at once;
- a fee paid in the base asset comes out of the quantity received (buy) or adds to what leaves (sell);
- a fee paid in a third asset (BNB) is a sale of that asset at the conversion price plus the fee.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from backend.exchanges.base import OrderSide

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PositionState:
    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO

    def unrealised(self, mark: Decimal) -> Decimal:
        return self.quantity * (mark - self.average_cost)


@dataclass(frozen=True, slots=True)
class FillEffect:
    position: PositionState
    cash_delta: Decimal  # change of the quote balance
    realised_delta: Decimal
    fee_quote: Decimal


def fee_in_quote(
    fee: Decimal, fee_asset: str, *, price: Decimal, base: str, quote: str, conversion: Decimal
) -> Decimal:
    if fee == 0 or fee_asset == quote:
        return fee
    if fee_asset == base:
        return fee * price
    return fee * conversion


def apply_fill(
    position: PositionState,
    *,
    side: OrderSide,
    price: Decimal,
    quantity: Decimal,
    fee: Decimal,
    fee_asset: str,
    base: str,
    quote: str,
    conversion: Decimal = ZERO,
) -> FillEffect:
    """The position after one fill, the cash it moves and the PnL it realises.

    `conversion` is the quote price of a third fee asset (BNB); its holding is reduced separately
    with `apply_fee_asset_sale`.
    """
    fee_q = fee_in_quote(fee, fee_asset, price=price, base=base, quote=quote, conversion=conversion)
    quote_fee = fee if fee_asset == quote else ZERO
    base_fee = fee if fee_asset == base else ZERO
    q, avg = position.quantity, position.average_cost
    if side is OrderSide.BUY:
        received = quantity - base_fee
        new_q = q + received
        new_avg = (q * avg + received * price) / new_q if new_q > 0 else ZERO
        realised = -fee_q
        cash = -(quantity * price) - quote_fee
    else:
        out = quantity + base_fee
        new_q = q - out
        new_avg = avg if new_q > 0 else ZERO
        realised = (price - avg) * out - fee_q
        cash = quantity * price - quote_fee
    return FillEffect(
        position=PositionState(
            quantity=new_q,
            average_cost=new_avg,
            realised_pnl=position.realised_pnl + realised,
            fees_paid=position.fees_paid + fee_q,
        ),
        cash_delta=cash,
        realised_delta=realised,
        fee_quote=fee_q,
    )


def apply_fee_asset_sale(
    position: PositionState, *, amount: Decimal, conversion: Decimal
) -> tuple[PositionState, Decimal]:
    """A third-asset fee (BNB) leaves that holding as if sold at `conversion`; returns (position, realised)."""
    realised = (conversion - position.average_cost) * amount
    new_q = position.quantity - amount
    return (
        replace(
            position,
            quantity=new_q,
            average_cost=position.average_cost if new_q > 0 else ZERO,
            realised_pnl=position.realised_pnl + realised,
        ),
        realised,
    )
