"""Account and order endpoints for the local Binance server, backed by a small matching simulation.

``install(server, engine)`` adds, with Binance's shapes, weights and error codes:
POST/GET/DELETE /api/v3/order, GET /api/v3/openOrders, GET /api/v3/myTrades, GET /api/v3/account and
GET /api/v3/account/commission. Market orders walk the simulated book (taker fee in the asset
received, as Binance charges without BNB). LIMIT IOC takes what is inside its price and expires the
rest; LIMIT GTC rests what does not cross and LIMIT_MAKER rests whole (-2010 "Order would
immediately match and take." when it would cross), their funds locked; resting orders fill only when
a test trades through them (``engine.trade(server, symbol, price, qty)``: partial fills by
quantity, at the order's price, as maker) and DELETE /api/v3/order cancels them. Like Binance, a
client order id is refused only while an order with it is open, so a blind resubmission of a filled
market order *would* trade twice: the adapter must look orders up instead.

State (balances, orders, trades) can live in a JSON file, so a server process killed mid-request
and started again still knows what it accepted. Faults specific to orders:
``engine.stall_after_accept`` (accept and persist the order, then hold the answer until the
client times out), ``engine.die_after_accept`` (accept and persist, then end the process), and
those of backend/tests/fakes/binance_order_faults.py: ``engine.answer_late(...)`` (a stalled order
that executes only after N lookups) and ``engine.fill_away(pct)`` (fills away from the book).
Placing an order (checks, matching, fees) is in binance_placement.py.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from backend.market.sources.simulated import SimulatedMarket
from backend.tests.fakes.binance_order_faults import OrderFaults
from backend.tests.fakes.binance_placement import FEE_RATE, place_order
from backend.tests.fakes.binance_resting import cancel_order, trade_through
from backend.tests.fakes.binance_server import BinanceAPIError, FakeBinance, FakeRequest
from backend.tests.fakes.binance_shapes import dec


@dataclass
class MatchingEngine(OrderFaults):
    balances: dict[str, Decimal] = field(default_factory=lambda: {"USDT": Decimal(10000)})
    locked: dict[str, Decimal] = field(default_factory=dict)  # held by resting orders
    maker_fee_rate: Decimal = FEE_RATE
    state_path: Path | None = None
    stall_after_accept: int = 0
    die_after_accept: int = 0
    orders: list[dict[str, Any]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)
    next_order_id: int = 1
    next_trade_id: int = 1
    lock: threading.RLock = field(default_factory=threading.RLock)
    release: threading.Event = field(default_factory=threading.Event)
    # answer_late: requests received and not executed yet, by client id -> (request, lookups left)
    late_orders: int = 0
    late_after_lookups: int = 1
    late_hold_seconds: float = 0.0
    late_after_seconds: float | None = None
    in_flight: dict[str, tuple[FakeRequest, int, float | None]] = field(default_factory=dict)
    # fill_away: the next N orders fill this many percent away from the book
    away_orders: int = 0
    away_pct: Decimal = Decimal(0)
    away_filled: dict[int, Decimal] = field(default_factory=dict)  # order id -> percent it was moved

    # persistence ------------------------------------------------------------------------------
    @classmethod
    def load_or_create(cls, path: Path, balances: dict[str, Decimal] | None = None) -> MatchingEngine:
        engine = cls(state_path=path)
        if balances is not None:
            engine.balances = dict(balances)
        if path.exists():
            data = json.loads(path.read_text())
            engine.balances = {k: Decimal(v) for k, v in data["balances"].items()}
            engine.locked = {k: Decimal(v) for k, v in data.get("locked", {}).items()}
            engine.orders = data["orders"]
            engine.trades = data["trades"]
            engine.next_order_id = data["next_order_id"]
            engine.next_trade_id = data["next_trade_id"]
        return engine

    def save(self) -> None:
        if self.state_path is None:
            return
        data = {
            "balances": {k: str(v) for k, v in self.balances.items()},
            "locked": {k: str(v) for k, v in self.locked.items()},
            "orders": self.orders,
            "trades": self.trades,
            "next_order_id": self.next_order_id,
            "next_trade_id": self.next_trade_id,
        }
        tmp = self.state_path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.state_path)

    # matching ---------------------------------------------------------------------------------
    def new_order(self, server: FakeBinance, request: FakeRequest) -> dict[str, Any]:
        self._looked_up(server)
        if self._arrive_late(request):
            self._stall_then_unknown()
        return self._place(server, request)

    def _place(self, server: FakeBinance, request: FakeRequest) -> dict[str, Any]:
        return place_order(self, server, request)

    def trade(self, server: FakeBinance, symbol: str, price: Decimal, quantity: Decimal) -> Decimal:
        """The market trades `quantity` at `price` through the resting orders (see binance_resting)."""
        return trade_through(self, server, symbol, price, quantity)

    def _find(self, server: FakeBinance, request: FakeRequest) -> dict[str, Any]:
        symbol = request.require("symbol")
        order_id = request.params.get("orderId")
        client_id = request.params.get("origClientOrderId")
        self._looked_up(server, symbol, client_id or "")
        if not order_id and not client_id:
            raise BinanceAPIError(
                400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        with self.lock:
            for order in reversed(self.orders):
                if order["symbol"] != symbol:
                    continue
                if (order_id and str(order["orderId"]) == order_id) or (
                    client_id and order["clientOrderId"] == client_id
                ):
                    return dict(order)
        raise BinanceAPIError(400, -2013, "Order does not exist.")

    def query(self, server: FakeBinance, request: FakeRequest) -> dict[str, Any]:
        return self._find(server, request)

    def cancel(self, server: FakeBinance, request: FakeRequest) -> dict[str, Any]:
        return cancel_order(self, server, request)

    def open_orders(self, server: FakeBinance, request: FakeRequest) -> list[dict[str, Any]]:
        symbol = request.params.get("symbol")
        self._looked_up(server)
        with self.lock:
            return [
                o
                for o in self.orders
                if o["status"] in ("NEW", "PARTIALLY_FILLED") and (symbol is None or o["symbol"] == symbol)
            ]

    def all_orders(self, server: FakeBinance, request: FakeRequest) -> list[dict[str, Any]]:
        symbol = request.require("symbol")
        start = int(request.params["startTime"]) if "startTime" in request.params else None
        self._looked_up(server, symbol, None)
        with self.lock:
            return [dict(o) for o in self.orders if o["symbol"] == symbol and (start is None or o["time"] >= start)]

    def my_trades(self, server: FakeBinance, request: FakeRequest) -> list[dict[str, Any]]:
        symbol = request.require("symbol")
        self._looked_up(server)
        limit = int(request.params.get("limit", "500"))
        start = int(request.params["startTime"]) if "startTime" in request.params else None
        with self.lock:
            rows = [t for t in self.trades if t["symbol"] == symbol and (start is None or t["time"] >= start)]
        return rows[-limit:]

    def account(self, server: FakeBinance, request: FakeRequest) -> dict[str, Any]:
        omit = request.params.get("omitZeroBalances") == "true"
        self._looked_up(server)
        with self.lock:
            balances = [
                {"asset": a, "free": dec(v), "locked": dec(self.locked.get(a, Decimal(0)))}
                for a, v in sorted(self.balances.items())
                if v or self.locked.get(a) or not omit
            ]
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0", "seller": "0"},
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": server.server_time_ms(),
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 1,
        }

    def commission(self, server: FakeBinance, request: FakeRequest) -> dict[str, Any]:
        symbol = request.require("symbol")
        rate = dec(FEE_RATE)
        return {
            "symbol": symbol,
            "standardCommission": {"maker": rate, "taker": rate, "buyer": "0", "seller": "0"},
            "taxCommission": {"maker": "0", "taker": "0", "buyer": "0", "seller": "0"},
            "discount": {
                "enabledForAccount": False,
                "enabledForSymbol": False,
                "discountAsset": "BNB",
                "discount": "0",
            },
        }


def install(server: FakeBinance, engine: MatchingEngine) -> MatchingEngine:
    server.add_route("POST", "/api/v3/order", engine.new_order, signed=True, weight=1)
    server.add_route("GET", "/api/v3/order", engine.query, signed=True, weight=4)
    server.add_route("DELETE", "/api/v3/order", engine.cancel, signed=True, weight=1)
    server.add_route("GET", "/api/v3/openOrders", engine.open_orders, signed=True, weight=6)
    server.add_route("GET", "/api/v3/myTrades", engine.my_trades, signed=True, weight=20)
    server.add_route("GET", "/api/v3/allOrders", engine.all_orders, signed=True, weight=20)
    server.add_route("GET", "/api/v3/account", engine.account, signed=True, weight=20)
    server.add_route("GET", "/api/v3/account/commission", engine.commission, signed=True, weight=20)
    return engine


@contextmanager
def running_account(market: SimulatedMarket) -> Iterator[tuple[FakeBinance, MatchingEngine]]:
    """A local Binance server with these account endpoints on an ephemeral loopback port; held
    answers released and the server stopped on exit."""
    fake = FakeBinance(market)
    engine = install(fake, MatchingEngine())
    fake.start()
    try:
        yield fake, engine
    finally:
        engine.release.set()
        fake.stop()
