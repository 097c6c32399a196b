"""Portfolio and trade history responses (money as decimal strings: exact, never floats)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field, field_serializer


class _Money(BaseModel):
    @field_serializer("*", when_used="json")
    def _decimal_text(self, value: object) -> object:
        if isinstance(value, Decimal):
            return format(value, "f")
        return value


class BalanceOut(_Money):
    asset: str
    free: Decimal
    locked: Decimal


class PositionOut(_Money):
    symbol: str
    base_asset: str
    quantity: Decimal
    average_cost: Decimal = Field(description="Average entry price, fees excluded (quote per base).")
    mark: Decimal | None = Field(description="Latest mark price (book mid, else last trade).")
    market_value: Decimal
    unrealised_pnl: Decimal
    realised_pnl: Decimal = Field(description="Realised PnL net of every fee of this symbol.")
    fees_paid: Decimal
    dust: str | None = Field(
        None, description="Set when the holding is below the exchange's minimum order (dust): why it cannot be sold."
    )


class PortfolioResponse(_Money):
    exchange: str
    quote_asset: str
    cash: Decimal = Field(description="The ledger's quote balance.")
    equity: Decimal = Field(description="Cash plus positions at mark.")
    gross_exposure: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    fees_paid: Decimal
    contributed: Decimal = Field(description="Starting cash plus reconciliation adjustments.")
    positions: list[PositionOut]
    balances: list[BalanceOut] = Field(description="The exchange account as last read.")
    balances_as_of: datetime | None
    marks_as_of: datetime | None
    last_run_id: int | None = None


class OrderOut(_Money):
    client_order_id: str
    exchange_order_id: str | None
    run_id: int | None
    symbol: str
    side: str
    order_type: str
    status: str
    requested_quantity: Decimal
    executed_quantity: Decimal
    quote_quantity: Decimal
    reference_price: Decimal | None
    error_code: int | None
    error_message: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime


class FillOut(_Money):
    trade_id: str
    client_order_id: str | None
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    fee_quote: Decimal
    realised_pnl: Decimal
    time: datetime


class TradesResponse(BaseModel):
    limit: int
    offset: int
    orders_total: int
    fills_total: int
    orders: list[OrderOut]
    fills: list[FillOut]
