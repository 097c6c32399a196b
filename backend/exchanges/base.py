"""The exchange protocol and its value types (Decimal quantities and prices, UTC times).

Adapters implement `Exchange`; nothing outside the risk guard's `GuardedExchange` calls
`submit_order` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(StrEnum):
    """Binance's order states, plus UNKNOWN: the request's outcome is not known yet."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        return self in {
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
            OrderStatus.EXPIRED_IN_MATCH,
        }


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    side: OrderSide
    quantity: Decimal  # base asset, already quantised to the step size
    client_order_id: str  # deterministic: cycle id + symbol + side
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None  # limit price; None for market orders
    reference_price: Decimal | None = None  # the price the plan assumed (mark), for risk and slippage
    # MARKET buys: spend exactly this much quote (Binance quoteOrderQty) instead of buying `quantity`,
    # so the executed notional can never exceed what the risk guard allowed
    quote_quantity: Decimal | None = None
    time_in_force: str | None = None  # LIMIT orders: GTC (default) or IOC


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str  # unique per exchange and symbol
    symbol: str
    side: OrderSide
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    time: datetime
    order_id: str | None = None  # the exchange's id of the order this trade belongs to, when known


@dataclass(frozen=True, slots=True)
class OrderResult:
    symbol: str
    client_order_id: str
    exchange_order_id: str | None
    status: OrderStatus
    side: OrderSide
    requested_quantity: Decimal
    executed_quantity: Decimal
    quote_quantity: Decimal  # cumulative quote spent or received
    fills: tuple[Fill, ...] = ()
    time: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None

    @property
    def average_price(self) -> Decimal | None:
        if self.executed_quantity <= 0:
            return None
        return self.quote_quantity / self.executed_quantity


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    balances: dict[str, Balance]
    taken_at: datetime
    fees_bps: dict[str, Decimal] = field(default_factory=dict)


@runtime_checkable
class Exchange(Protocol):
    """What every adapter offers. Blocking adapters run their I/O off the event loop themselves."""

    name: str

    async def account(self) -> AccountSnapshot: ...

    async def submit_order(self, request: OrderRequest) -> OrderResult:
        """Place an order. Raises an ExchangeError subclass; UnknownOutcomeError when unsure."""
        ...

    async def query_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """The order with this client id, or None when the exchange never saw it."""
        ...

    async def trades(self, symbol: str, since: datetime | None = None) -> list[Fill]: ...

    async def close(self) -> None: ...
