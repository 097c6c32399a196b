"""The ledger's records: order states and the values its reads and writes return.

Kept apart from the ledger's statements so the reconciler, the service and the tests can name an
order state or a position view without importing the database code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import Fill, OrderSide, OrderStatus

ZERO = Decimal(0)
MAKER_CHILD = re.compile(r"-(t|m\d+)$")  # backend/execution/styles.py child_order_id suffixes
WORKING = "WORKING"  # a sliced order: its slices are sent over the cycle; not itself on the exchange
PENDING = "PENDING"  # persisted, not yet sent
REFUSED = "REFUSED"  # the risk guard said no; never sent
FAILED = "FAILED"  # sending failed in a way that proves nothing was placed
SKIPPED = "SKIPPED"  # planned and persisted, then not sent (cash after sells, cycle stopped)
SENDING = "SENDING"  # claimed by its leader for sending (fenced): from here the outcome may be unknown
OPEN_STATES = (
    PENDING,
    SENDING,
    OrderStatus.UNKNOWN.value,
    OrderStatus.NEW.value,
    OrderStatus.PARTIALLY_FILLED.value,
)


@dataclass(frozen=True, slots=True)
class RecordedFill:
    fill: Fill
    realised_pnl: Decimal
    fee_quote: Decimal
    client_order_id: str | None


@dataclass(frozen=True, slots=True)
class Applied:
    """What one transaction changed: the fills it recorded, the holdings and cash after it."""

    fills: list[RecordedFill]
    quantities: dict[str, Decimal]  # symbol -> position quantity after, for the symbols touched
    cash: Decimal
    # symbol -> the position at the prices it was bought at (quantity x average cost), same symbols
    costs: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PositionView:
    symbol: str
    base_asset: str
    quantity: Decimal
    average_cost: Decimal
    realised_pnl: Decimal
    fees_paid: Decimal
    last_price: Decimal | None


@dataclass(frozen=True, slots=True)
class OpenOrder:
    client_order_id: str
    symbol: str
    side: OrderSide
    status: str
    requested_quantity: Decimal
    created_at: datetime | None = None
    unknown_since: datetime | None = None
    next_lookup_at: datetime | None = None
    lookups: int = 0
    leader_epoch: int | None = None
    quote_order_qty: Decimal | None = None
    order_type: str = "MARKET"
    parent_client_order_id: str | None = None  # the planned order this child works, if a child
    executed_quantity: Decimal = ZERO
    reference_price: Decimal | None = None  # the arrival mark of the planned order

    @property
    def rests(self) -> bool:
        """A maker order the exchange holds on its book (it may rest across cycles)."""
        return self.order_type == "LIMIT_MAKER" and self.status in (
            OrderStatus.NEW.value,
            OrderStatus.PARTIALLY_FILLED.value,
        )

    @property
    def root(self) -> str:
        """The first maker order of its chain: a re-priced maker order (``-m1``...) or a taker
        finish (``-t``) works its parent; anything else (a slice ``-s2`` included) is its own."""
        parent = self.parent_client_order_id
        if parent and MAKER_CHILD.search(self.client_order_id):
            return parent
        return self.client_order_id


class LedgerBase:
    """What every part of the ledger shares: the session factory, the exchange, the quote asset, the clock."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        exchange: str,
        quote_asset: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self.exchange = exchange
        self.quote = quote_asset
        self._clock = clock
