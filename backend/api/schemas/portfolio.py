"""Portfolio and trade history responses (money as decimal strings: exact, never floats)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, computed_field

from backend.api.schemas.numbers import Amount
from backend.execution.shortfall import shortfall_of


class _Money(BaseModel):
    """Amounts are backend.api.schemas.numbers.Amount: decimal strings in JSON."""


class BalanceOut(_Money):
    asset: str
    free: Amount
    locked: Amount


class PositionOut(_Money):
    symbol: str
    base_asset: str
    quantity: Amount
    average_cost: Amount = Field(description="Average entry price, fees excluded (quote per base).")
    mark: Amount | None = Field(description="Latest mark price (book mid, else last trade).")
    market_value: Amount
    unrealised_pnl: Amount
    realised_pnl: Amount = Field(description="Realised PnL net of every fee of this symbol.")
    fees_paid: Amount
    dust: str | None = Field(
        None, description="Set when the holding is below the exchange's minimum order (dust): why it cannot be sold."
    )


class PortfolioResponse(_Money):
    exchange: str
    quote_asset: str
    cash: Amount = Field(description="The ledger's quote balance.")
    equity: Amount = Field(description="Cash plus positions at mark.")
    gross_exposure: Amount
    realised_pnl: Amount
    unrealised_pnl: Amount
    fees_paid: Amount
    contributed: Amount = Field(description="Starting cash plus reconciliation adjustments.")
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
    requested_quantity: Amount
    executed_quantity: Amount
    quote_quantity: Amount
    reference_price: Amount | None
    error_code: int | None
    error_message: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime

    @computed_field(  # type: ignore[prop-decorator]
        description=(
            "Implementation shortfall in basis points: the average fill price against the arrival mark "
            "(reference_price, the price the plan decided at), + a cost, - an improvement; fees apart. "
            "Null when nothing executed."
        )
    )
    @property
    def shortfall_bps(self) -> Amount | None:
        found = shortfall_of(self.side, self.reference_price, self.executed_quantity, self.quote_quantity)
        return None if found is None else found.bps

    @computed_field(description="The shortfall in the quote asset (× executed quantity); fees apart.")  # type: ignore[prop-decorator]
    @property
    def shortfall_quote(self) -> Amount | None:
        found = shortfall_of(self.side, self.reference_price, self.executed_quantity, self.quote_quantity)
        return None if found is None else found.quote


class FillOut(_Money):
    trade_id: str
    client_order_id: str | None
    symbol: str
    side: str
    price: Amount
    quantity: Amount
    fee: Amount
    fee_asset: str
    fee_quote: Amount
    realised_pnl: Amount
    time: datetime


class TradesResponse(BaseModel):
    limit: int
    offset: int
    orders_total: int
    fills_total: int
    orders: list[OrderOut]
    fills: list[FillOut]
