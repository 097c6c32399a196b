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
    LIMIT_MAKER = "LIMIT_MAKER"  # a LIMIT order refused (-2010) if it would take liquidity at once


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
    def is_open(self) -> bool:
        """Resting on the book (some quantity may still fill)."""
        return self in {OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED}

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
    price: Decimal | None = None  # the limit price of a limit order
    order_type: OrderType | None = None  # None when the answer did not say

    @property
    def open_quantity(self) -> Decimal:
        """What may still fill: the unfilled rest of an open order, zero once the order is final."""
        return self.requested_quantity - self.executed_quantity if self.status.is_open else Decimal(0)

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


@runtime_checkable
class RestingOrders(Protocol):
    """Adapters whose orders can rest on the book across cycles (LIMIT GTC, LIMIT_MAKER)."""

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """Cancel the order if it is still open and return its state afterwards: an order that had
        already filled, expired or been cancelled comes back as it is; None when the exchange never
        saw it. Raises TemporaryExchangeError when unsure (query again later)."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[OrderResult]:
        """The account's open orders (NEW or PARTIALLY_FILLED), of one symbol or of all."""
        ...
