"""Order faults of the local Binance server's matching engine (a mixin of MatchingEngine).

- ``answer_late``: an order is not executed when it arrives; its answer is held (a stall: the
  client times out), then a 503 -1007 "execution status unknown". It executes, against the book of
  that moment, only after it has been looked up more than N times (GET /api/v3/order by its client
  id, or GET /api/v3/allOrders of its symbol), or, with a delay, at the first account or order
  request once the delay has passed: the exchange was slow, not deaf. In memory only.
- ``fill_away``: the next orders fill a given percent away from the book, against the taker (buys
  above, sells below); a MARKET buy by ``quoteOrderQty`` still spends at most its quote amount.
  ``away_filled`` remembers which orders were moved, and by how much.
"""

from __future__ import annotations

import threading
import time
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import TYPE_CHECKING, Any

from backend.market.types import BookLevel
from backend.tests.fakes.binance_server import BinanceAPIError, FakeRequest

if TYPE_CHECKING:
    from backend.tests.fakes.binance_server import FakeBinance

TIMEOUT_MSG = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."


class OrderFaults:
    """Needs the engine's ``lock``, ``release`` and ``_place``; the fields live on MatchingEngine."""

    lock: threading.RLock
    release: threading.Event
    late_orders: int
    late_after_lookups: int
    late_hold_seconds: float
    late_after_seconds: float | None
    in_flight: dict[str, tuple[FakeRequest, int, float | None]]
    away_orders: int
    away_pct: Decimal
    away_filled: dict[int, Decimal]

    def _place(self, server: FakeBinance, request: FakeRequest) -> dict[str, Any]:
        raise NotImplementedError

    def answer_late(
        self, times: int = 1, after_lookups: int = 1, hold_seconds: float = 0.0, after_seconds: float | None = None
    ) -> None:
        """The next `times` orders execute only at their lookup number `after_lookups + 1` (or, with
        `after_seconds`, at the first account or order request that long after they arrived);
        their answer is held `hold_seconds` (longer than the client's timeout: a stall), then a 503."""
        with self.lock:
            self.late_orders, self.late_after_lookups, self.late_hold_seconds = times, after_lookups, hold_seconds
            self.late_after_seconds = after_seconds

    def fill_away(self, pct: Decimal, times: int = 1) -> None:
        """The next `times` orders fill `pct` percent worse than the book (buys above, sells below)."""
        with self.lock:
            self.away_orders, self.away_pct = times, Decimal(pct)

    def _looked_up(self, server: FakeBinance, symbol: str | None = None, client_id: str | None = None) -> None:
        """Any account or order request; a lookup of a late order (by its id, or all orders of its
        symbol) counts for it. Executes the late orders now due."""
        now = time.monotonic()
        with self.lock:
            for coid, (request, left, due) in list(self.in_flight.items()):
                if symbol is not None and request.params.get("symbol") == symbol and client_id in (None, coid):
                    left -= 1
                    self.in_flight[coid] = (request, left, due)
                if (left >= 0) if due is None else (now < due):
                    continue
                del self.in_flight[coid]
                try:
                    self._place(server, request)
                except BinanceAPIError:
                    pass  # it would have been refused on arrival too: never placed

    def _arrive_late(self, request: FakeRequest) -> bool:
        """Whether this new order is one to answer late (then it is kept, not executed)."""
        with self.lock:
            late = self.late_orders > 0 and bool(request.params.get("newClientOrderId"))
            if late:
                self.late_orders -= 1
                due = None if self.late_after_seconds is None else time.monotonic() + self.late_after_seconds
                self.in_flight[request.params["newClientOrderId"]] = (request, self.late_after_lookups, due)
        return late

    def _stall_then_unknown(self) -> None:
        if self.late_hold_seconds > 0:
            self.release.wait(timeout=self.late_hold_seconds)
        raise BinanceAPIError(503, -1007, TIMEOUT_MSG)

    def _take_away(self, side: str) -> Decimal | None:
        """The percent this order's book is moved (signed against the taker), or None."""
        with self.lock:
            if self.away_orders <= 0:
                return None
            self.away_orders -= 1
            return self.away_pct if side == "BUY" else -self.away_pct


def shifted(levels: Any, pct: Decimal, tick: Decimal) -> tuple[BookLevel, ...]:
    """The book's levels moved `pct` percent (rounded to the tick, away from the taker)."""
    factor = 1 + pct / 100
    rounding = ROUND_UP if pct > 0 else ROUND_DOWN
    step = tick if tick > 0 else Decimal("0.00000001")
    return tuple(
        BookLevel(((level.price * factor) / step).to_integral_value(rounding=rounding) * step, level.qty)
        for level in levels
    )
