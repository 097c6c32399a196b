"""The money invariants of issue 12, checked on a running service (admin API) against the local
Binance server's own state (the exchange's truth, read in the test process).

After every step: no client order id executed twice on the exchange; no executed order spent more
than QT_MAX_NOTIONAL_PER_TRADE (and every MARKET buy was sent by quote amount); no position beyond
QT_MAX_POSITION_PER_SYMBOL at the prices it was filled at, a fill the exchange moved away from its
book included (the service measures the limit on the larger of the holding at the mark and at the
prices paid, and sends buys by quote amount). Once no order is left unresolved (none
open in the ledger, none in flight on the exchange): ledger == exchange (every fill, every position,
cash) and the risk guard's daily realised PnL == the ledger's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backend.amounts import exact_sum
from backend.tests.conftest import ADMIN_HEADERS
from backend.tests.fakes.binance_account import MatchingEngine
from backend.tests.process import ServerProcess

D = Decimal
OPEN = {"PENDING", "SENDING", "UNKNOWN", "NEW", "PARTIALLY_FILLED"}


@dataclass(frozen=True)
class Exchange:
    """A copy of the local Binance server's account, taken under its lock."""

    orders: list[dict[str, Any]]
    trades: list[dict[str, Any]]
    balances: dict[str, Decimal]
    in_flight: int
    away_filled: dict[int, Decimal]

    @classmethod
    def of(cls, engine: MatchingEngine) -> Exchange:
        with engine.lock:
            return cls(
                [dict(o) for o in engine.orders],
                [dict(t) for t in engine.trades],
                dict(engine.balances),
                len(engine.in_flight),
                dict(engine.away_filled),
            )

    def executed(self) -> list[dict[str, Any]]:
        return [o for o in self.orders if D(o["executedQty"]) > 0]


def cost_basis(exchange: Exchange) -> dict[str, Decimal]:
    """Per symbol: the quantity held × its average fill price (sales take out at the average). A
    buy's fee taken in the asset bought is not held: the position is the quantity net of it."""
    qty: dict[str, Decimal] = {}
    cost: dict[str, Decimal] = {}
    for t in sorted(exchange.trades, key=lambda t: int(t["id"])):
        symbol, q, p = t["symbol"], D(t["qty"]), D(t["price"])
        if t["isBuyer"] and symbol.startswith(t["commissionAsset"]):
            q -= D(t["commission"])
        held, paid = qty.get(symbol, D(0)), cost.get(symbol, D(0))
        if t["isBuyer"]:
            qty[symbol], cost[symbol] = held + q, paid + p * q
        elif held > 0:
            qty[symbol], cost[symbol] = held - q, paid * (held - q) / held
    return cost


def _admin(server: ServerProcess, path: str) -> dict[str, Any]:
    response = server.get(path, headers=ADMIN_HEADERS)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


def check_money_invariants(
    where: str,
    server: ServerProcess,
    engine: MatchingEngine,
    *,
    max_trade: Decimal,
    max_position: Decimal,
    quote: str = "USDT",
) -> bool:
    """Assert the invariants; True when the full comparison ran (nothing was left unresolved)."""
    exchange = Exchange.of(engine)
    executed = exchange.executed()
    twice = [c for c, n in Counter(o["clientOrderId"] for o in executed).items() if n > 1]
    assert not twice, f"{where}: client order ids executed twice: {twice}"
    for o in executed:
        spent = D(o["cummulativeQuoteQty"])
        assert spent <= max_trade, f"{where}: {o['clientOrderId']} spent {spent}"
        if o["side"] == "BUY" and o["type"] == "MARKET":
            assert D(o["origQuoteOrderQty"]) > 0, f"{where}: {o['clientOrderId']} was not sent by quote amount"
    for symbol, cost in cost_basis(exchange).items():
        assert cost <= max_position, f"{where}: {symbol} holds {cost} at its fill prices"

    history = _admin(server, "/trades?limit=500")
    assert history["orders_total"] <= 500, "more orders than one page: make the test smaller"
    unresolved = [o["client_order_id"] for o in history["orders"] if o["status"] in OPEN]
    if unresolved or exchange.in_flight:
        return False
    fills = history["fills"]
    assert {f["trade_id"] for f in fills} == {str(t["id"]) for t in exchange.trades}, f"{where}: fills differ"
    portfolio = _admin(server, "/portfolio")
    held = {p["base_asset"]: D(p["quantity"]) for p in portfolio["positions"] if D(p["quantity"]) != 0}
    on_exchange = {a: q for a, q in exchange.balances.items() if a != quote and q != 0}
    assert held == on_exchange, f"{where}: ledger positions {held} != exchange {on_exchange}"
    assert D(portfolio["cash"]) == exchange.balances.get(quote, D(0)), f"{where}: ledger cash differs"
    risk = _admin(server, "/risk")["metrics"]
    ledger_today = exact_sum(D(f["realised_pnl"]) for f in fills if f["time"].startswith(risk["day"]))
    guard_today = D(risk["realised_pnl_today"])
    assert guard_today == ledger_today, f"{where}: guard daily PnL {guard_today} != ledger {ledger_today}"
    return True
