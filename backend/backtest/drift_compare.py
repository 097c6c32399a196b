"""The drift report's comparison: a live cycle's orders and fills against the replay's, each difference with its cause.

Orders are matched by symbol and side, in order; fills by position. Where the replay's settings are
not the live cycle's, that is the cause given. Used by backend/backtest/drift.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from database.models.execution import FillRecord, Order

ZERO = Decimal(0)
BPS = Decimal(10_000)
ORDER_FIELDS = ("status", "requested_quantity", "executed_quantity", "quote_quantity")
FILL_FIELDS = ("price", "quantity", "fee", "fee_asset", "realised_pnl")


@dataclass(frozen=True)
class Difference:
    time: datetime
    run_id: int | None  # the live cycle
    kind: str  # state | order | fill
    subject: str  # what differs: "BTCUSDT BUY (live order X)", "cash", ...
    fields: dict[str, tuple[str | None, str | None]]  # name -> (live, replay)
    cause: str


@dataclass
class DriftReport:
    start: datetime
    end: datetime
    cycles: int = 0
    live: dict[str, Any] = field(default_factory=dict)  # orders, fills, realised_pnl, fees, slippage_bps
    replay: dict[str, Any] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)  # the run-time overrides in force, settings that differ

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        for d in out["differences"]:
            d["time"] = d["time"].isoformat()
        return out


def text(value: Any) -> str | None:
    return None if value is None else (format(value, "f") if isinstance(value, Decimal) else str(value))


def cycle_records(session: Session, run_id: int | None) -> list[tuple[Order, list[FillRecord]]]:
    orders = list(session.scalars(select(Order).where(Order.run_id == run_id).order_by(Order.id)))
    fills: dict[str, list[FillRecord]] = defaultdict(list)
    ids = [o.client_order_id for o in orders]
    if ids:
        query = select(FillRecord).where(FillRecord.client_order_id.in_(ids)).order_by(FillRecord.id)
        for f in session.scalars(query):
            fills[f.client_order_id or ""].append(f)
    return [(o, fills.get(o.client_order_id, [])) for o in orders]


def slippage_bps(order: Order, fills: list[FillRecord]) -> Decimal | None:
    qty = sum((f.quantity for f in fills), ZERO)
    if qty <= 0 or not order.reference_price:
        return None
    average = sum((f.price * f.quantity for f in fills), ZERO) / qty
    sign = 1 if order.side == "BUY" else -1
    return (sign * (average / order.reference_price - 1) * BPS).quantize(Decimal("0.01"))


class Totals:
    """One side's totals over the replayed cycles: orders, fills, realised PnL, fees, slippage."""

    def __init__(self) -> None:
        self.orders = self.fills = 0
        self.pnl = self.fees = self.notional = self.cost = ZERO

    def add(self, order: Order, fills: list[FillRecord]) -> None:
        self.orders += 1
        for f in fills:
            self.fills += 1
            self.pnl += f.realised_pnl
            self.fees += f.fee_quote
            if order.reference_price:
                sign = 1 if f.side == "BUY" else -1
                self.cost += sign * (f.price - order.reference_price) * f.quantity
                self.notional += order.reference_price * f.quantity

    def as_dict(self) -> dict[str, Any]:
        slip = (self.cost / self.notional * BPS).quantize(Decimal("0.01")) if self.notional else None
        return {
            "orders": self.orders,
            "fills": self.fills,
            "realised_pnl": text(self.pnl),
            "fees": text(self.fees),
            "slippage_bps": text(slip),
        }


class Comparer:
    """Diffs each cycle's live records with the replay's into the report, each difference with its cause."""

    def __init__(self, report: DriftReport, exchange: str, fee_bps: Decimal) -> None:
        self.report = report
        self.exchange = exchange
        self.fee_bps = fee_bps
        self.live, self.replay = Totals(), Totals()

    def add(self, kind: str, subject: str, fields: dict[str, tuple[Any, Any]], cause: str, at: Any) -> None:
        time, run_id = at
        texts = {k: (text(a), text(b)) for k, (a, b) in fields.items()}
        self.report.differences.append(Difference(time, run_id, kind, subject, texts, cause))

    def state(self, recorded: dict[str, Any], replayed: dict[str, Any], at: Any) -> bool:
        fields: dict[str, tuple[Any, Any]] = {}
        if Decimal(recorded["cash"]) != Decimal(replayed["cash"]):
            fields["cash"] = (recorded["cash"], replayed["cash"])
        for symbol in sorted(set(recorded["positions"]) | set(replayed["positions"])):
            a = recorded["positions"].get(symbol, {}).get("quantity", "0")
            b = replayed["positions"].get(symbol, {}).get("quantity", "0")
            if Decimal(a) != Decimal(b):
                fields[f"{symbol} quantity"] = (a, b)
        if not fields:
            return False
        earlier = any(d.kind != "state" for d in self.report.differences)
        cause = (
            "follows from the differences listed before this cycle"
            if earlier
            else "the ledger changed between cycles outside the recorded cycles (a deposit or withdrawal, a "
            "reconciliation adjustment, a manual order or an edit of the ledger)"
        )
        self.add("state", "the ledger before the cycle", fields, cause, at)
        return True

    def cycle(
        self,
        live: list[tuple[Order, list[FillRecord]]],
        replay: list[tuple[Order, list[FillRecord]]],
        state_differs: bool,
        books: set[str],
        at: Any,
        settings: str | None = None,
    ) -> None:
        """``settings``: why the replay's settings are not the live cycle's, the cause of any difference."""
        queues: dict[tuple[str, str], list[tuple[Order, list[FillRecord]]]] = defaultdict(list)
        for item in replay:
            queues[(item[0].symbol, item[0].side)].append(item)
        for order, fills in live:
            self.live.add(order, fills)
        for order, fills in replay:
            self.replay.add(order, fills)
        upstream = settings or (
            "follows from the ledger's different state before this cycle" if state_differs else None
        )
        for order, fills in live:
            queue = queues.get((order.symbol, order.side))
            subject = f"{order.symbol} {order.side} (live order {order.client_order_id})"
            if not queue:
                why = f"live: {order.error_message}" if order.error_message else None
                cause = upstream or why or "the replay planned no such order from the same snapshot and weights"
                self.add("order", subject, {"status": (order.status, None)}, cause + "; not in the replay", at)
                continue
            other, other_fills = queue.pop(0)
            self._order(order, fills, other, other_fills, subject, upstream, books, at)
        for leftover in queues.values():
            for other, _fills in leftover:
                subject = f"{other.symbol} {other.side} (replay order {other.client_order_id})"
                cause = upstream or "the live cycle sent no such order (it stopped early or its plan differed)"
                self.add("order", subject, {"status": (None, other.status)}, cause, at)

    def _order(
        self,
        order: Order,
        fills: list[FillRecord],
        other: Order,
        other_fills: list[FillRecord],
        subject: str,
        upstream: str | None,
        books: set[str],
        at: Any,
    ) -> None:
        diff = {
            k: (getattr(order, k), getattr(other, k)) for k in ORDER_FIELDS if getattr(order, k) != getattr(other, k)
        }
        changed_fills = False
        for index in range(max(len(fills), len(other_fills))):
            a = fills[index] if index < len(fills) else None
            b = other_fills[index] if index < len(other_fills) else None
            fields = {
                k: (getattr(a, k, None), getattr(b, k, None))
                for k in FILL_FIELDS
                if getattr(a, k, None) != getattr(b, k, None)
            }
            if not fields:
                continue
            changed_fills = True
            live_slip, replay_slip = slippage_bps(order, [a] if a else []), slippage_bps(other, [b] if b else [])
            if live_slip != replay_slip:
                fields["slippage_bps"] = (live_slip, replay_slip)
            trade = a.trade_id if a is not None else (b.trade_id if b is not None else "?")
            cause = upstream or self._fill_cause(order.symbol, a, b, books)
            self.add("fill", f"{subject}, fill {index + 1} (trade {trade})", fields, cause, at)
        if diff and not (changed_fills and set(diff) <= {"executed_quantity", "quote_quantity"}):
            cause = upstream or (
                f"live: {order.error_message}"
                if order.error_message
                else "the order's outcome differs from the replay's on the same snapshot and book"
            )
            self.add("order", subject, diff, cause, at)

    def _fill_cause(self, symbol: str, live: FillRecord | None, replay: FillRecord | None, books: set[str]) -> str:
        if symbol not in books:
            return f"no order book of {symbol} was recorded for this cycle: the replay could not fill as live did"
        if live is None or replay is None:
            return "the number of fills differs: the ledger's are not those the fill model makes on the recorded book"
        if live.price == replay.price and live.quantity == replay.quantity:
            if live.fee != replay.fee:
                notional = live.price * live.quantity
                rate = (live.fee_quote / notional * BPS).quantize(Decimal("0.01")) if notional else None
                return (
                    f"fee: the ledger's is {rate} bps of the notional, "
                    f"the fill model charges QT_PAPER_FEE_BPS={self.fee_bps}"
                )
            return "realised PnL differs on an identical fill: the average cost before it differs"
        if self.exchange != "paper":
            return (
                "a real exchange fill: the exchange executed away from what the paper fill model gives "
                "on the recorded book"
            )
        return (
            "the ledger's fill is not what the paper fill model gives on the order book this cycle recorded "
            f"(replay: {text(replay.quantity)} at {text(replay.price)}): the fill was changed after it was recorded, "
            "or the book moved between the snapshot and the send"
        )
