"""The drift report: the live cycles replayed from their recorded snapshots, diffed against the ledger.

``python -m backend.backtest --compare-live --start ... --end ...`` reads the cycles the live
service recorded in ``market_snapshots`` (backend/execution/snapshots.py) over the period, and
drives one backtest book through them: the same ExecutionService, risk guard, paper fill model and
ledger as the backtest, on a scratch database seeded with the ledger's cash and positions before
the first cycle (and the risk guard with the day's executions), each cycle on its recorded clock,
snapshot, weights and order books. Then it compares, cycle by cycle, the orders and fills the
replay made with those the ledger holds for that cycle (matched by symbol and side, in order):
quantities, status, fill price and quantity, fee, realised PnL, slippage against the planned price;
and the ledger's state before each cycle with the replay's. Each difference is listed with its
cause. Nothing of the trading path is re-implemented here.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from backend.backtest.book import Book, build_book
from backend.backtest.clock import BacktestClock
from backend.backtest.inline import InlineLoop
from backend.execution.ledger import Ledger
from backend.execution.snapshots import decode_book, decode_snapshot, ledger_state, load_snapshots
from backend.market.errors import MarketDataError
from backend.market.types import MarketSnapshot, OrderBook, SymbolRules
from backend.observability.metrics import Metrics
from backend.risk.guard import day_start
from config.runtime import SettingsHolder
from config.settings import Settings
from database.models.execution import FillRecord, LedgerBalance, Order, PaperBalance, Position

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

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        for d in out["differences"]:
            d["time"] = d["time"].isoformat()
        return out


class RecordedMarket:
    """The market of one recorded cycle, as the book's parts ask for it (snapshot, rules, order books)."""

    def __init__(self) -> None:
        self.snapshot_value: MarketSnapshot | None = None
        self.books: dict[str, list[OrderBook]] = {}

    def load(self, payload: dict[str, Any]) -> None:
        self.snapshot_value = decode_snapshot(payload["snapshot"])
        self.books = {s: [decode_book(b) for b in items] for s, items in payload.get("books", {}).items()}

    async def snapshot(self) -> MarketSnapshot:
        if self.snapshot_value is None:
            raise MarketDataError("no recorded snapshot loaded")
        return self.snapshot_value

    async def rules(self) -> dict[str, SymbolRules]:
        return (await self.snapshot()).rules

    async def order_book(self, symbol: str, _limit: int) -> OrderBook:
        queue = self.books.get(symbol)
        if not queue:
            raise MarketDataError(f"no order book of {symbol} was recorded for this cycle")
        return queue.pop(0) if len(queue) > 1 else queue[0]


def _text(value: Any) -> str | None:
    return None if value is None else (format(value, "f") if isinstance(value, Decimal) else str(value))


def _seed(book: Book, state: dict[str, Any], exchange: str, quote: str, now: datetime) -> None:
    """The scratch ledger and paper account start where the live ledger stood before the first cycle."""
    cash = Decimal(state["cash"])
    with book.sessions.begin() as session:
        conn = session.connection()
        conn.execute(
            insert(LedgerBalance),
            {
                "exchange": exchange,
                "asset": quote,
                "amount": cash,
                "contributed": Decimal(state["contributed"]),
                "updated_at": now,
            },
        )
        conn.execute(insert(PaperBalance), {"asset": quote, "free": cash, "locked": ZERO})
        for symbol, pos in state["positions"].items():
            qty = Decimal(pos["quantity"])
            conn.execute(
                insert(Position),
                {
                    "exchange": exchange,
                    "symbol": symbol,
                    "base_asset": pos["base_asset"],
                    "quantity": qty,
                    "average_cost": Decimal(pos["average_cost"]),
                    "realised_pnl": Decimal(pos["realised_pnl"]),
                    "fees_paid": Decimal(pos["fees_paid"]),
                    "last_price": None,
                    "updated_at": now,
                },
            )
            conn.execute(insert(PaperBalance), {"asset": pos["base_asset"], "free": qty, "locked": ZERO})


def _cycle_records(session: Session, run_id: int | None) -> list[tuple[Order, list[FillRecord]]]:
    orders = list(session.scalars(select(Order).where(Order.run_id == run_id).order_by(Order.id)))
    fills: dict[str, list[FillRecord]] = defaultdict(list)
    ids = [o.client_order_id for o in orders]
    if ids:
        query = select(FillRecord).where(FillRecord.client_order_id.in_(ids)).order_by(FillRecord.id)
        for f in session.scalars(query):
            fills[f.client_order_id or ""].append(f)
    return [(o, fills.get(o.client_order_id, [])) for o in orders]


def _slippage_bps(order: Order, fills: list[FillRecord]) -> Decimal | None:
    qty = sum((f.quantity for f in fills), ZERO)
    if qty <= 0 or not order.reference_price:
        return None
    average = sum((f.price * f.quantity for f in fills), ZERO) / qty
    sign = 1 if order.side == "BUY" else -1
    return (sign * (average / order.reference_price - 1) * BPS).quantize(Decimal("0.01"))


class _Totals:
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
            "realised_pnl": _text(self.pnl),
            "fees": _text(self.fees),
            "slippage_bps": _text(slip),
        }


class _Comparer:
    def __init__(self, report: DriftReport, exchange: str, fee_bps: Decimal) -> None:
        self.report = report
        self.exchange = exchange
        self.fee_bps = fee_bps
        self.live, self.replay = _Totals(), _Totals()

    def add(self, kind: str, subject: str, fields: dict[str, tuple[Any, Any]], cause: str, at: Any) -> None:
        time, run_id = at
        texts = {k: (_text(a), _text(b)) for k, (a, b) in fields.items()}
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
    ) -> None:
        queues: dict[tuple[str, str], list[tuple[Order, list[FillRecord]]]] = defaultdict(list)
        for item in replay:
            queues[(item[0].symbol, item[0].side)].append(item)
        for order, fills in live:
            self.live.add(order, fills)
        for order, fills in replay:
            self.replay.add(order, fills)
        upstream = "follows from the ledger's different state before this cycle" if state_differs else None
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
            live_slip, replay_slip = _slippage_bps(order, [a] if a else []), _slippage_bps(other, [b] if b else [])
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
            f"(replay: {_text(replay.quantity)} at {_text(replay.price)}): the fill was changed after it was recorded, "
            "or the book moved between the snapshot and the send"
        )


async def _replay(
    settings: Settings,
    live: sessionmaker[Session],
    rows: list[tuple[int | None, datetime, dict[str, Any]]],
    report: DriftReport,
) -> None:
    holder = SettingsHolder(settings, {})
    current = holder.current
    exchange_kind = current.execution.exchange.value
    clock = BacktestClock(rows[0][1])
    market = RecordedMarket()
    weights: dict[str, Any] = {"value": None}
    book = build_book(
        "replay",
        settings=holder,
        market=market,  # type: ignore[arg-type]
        clock=clock,
        selection=lambda: weights["value"],
        slippage_bps=None,
        trades_log=None,
        metrics=Metrics(),
    )
    try:
        ledger_name = book.service.ledger.exchange
        live_ledger = Ledger(live, exchange=exchange_kind, quote_asset=book.quote, clock=clock)
        _seed(book, rows[0][2]["state"], ledger_name, book.quote, rows[0][1])
        first = rows[0][1]
        before = [
            r for r in live_ledger.executions_since(day_start(first.date() - timedelta(days=1))) if r.time < first
        ]
        book.guard.restore_trades_sync(before)
        comparer = _Comparer(report, exchange_kind, current.execution.paper_fee_bps)
        for run_id, time, payload in rows:
            at = (time, run_id)
            clock.set(time)
            market.load(payload)
            raw = payload.get("weights")
            weights["value"] = None if raw is None else {s: Decimal(w) for s, w in raw.items()}
            state_differs = comparer.state(payload["state"], ledger_state(book.service.ledger), at)
            cycle = await book.service.run_cycle()
            with book.sessions() as session:
                replayed = _cycle_records(session, cycle.run_id)
            with live() as session:
                recorded = _cycle_records(session, run_id)
            comparer.cycle(recorded, replayed, state_differs, set(payload.get("books", {})), at)
            report.cycles += 1
        report.live, report.replay = comparer.live.as_dict(), comparer.replay.as_dict()
    finally:
        book.close()


def compare_live(settings: Settings, live: sessionmaker[Session], start: datetime, end: datetime) -> DriftReport:
    """Replay the cycles recorded in [start, end] and diff them against the ledger (blocking)."""
    exchange = settings.execution.exchange.value
    rows = load_snapshots(live, start, end, exchange=exchange)
    report = DriftReport(start=start.astimezone(UTC), end=end.astimezone(UTC))
    if not rows:
        return report
    with asyncio.Runner(loop_factory=InlineLoop) as runner:
        runner.run(_replay(settings, live, rows, report))
    return report


def format_report(report: DriftReport) -> str:
    """The report as an operator reads it on a terminal: totals, then each difference with its cause."""
    lines = [
        f"compare-live {report.start.isoformat()} .. {report.end.isoformat()}: "
        f"{report.cycles} recorded cycles replayed",
        f"{'':14}{'orders':>8}{'fills':>8}{'realised PnL':>22}{'fees':>18}{'slippage bps':>14}",
    ]
    for name, totals in (("ledger (live)", report.live), ("replay", report.replay)):
        if totals:
            lines.append(
                f"{name:14}{totals['orders']:>8}{totals['fills']:>8}{totals['realised_pnl']:>22}"
                f"{totals['fees']:>18}{totals['slippage_bps']!s:>14}"
            )
    if not report.differences:
        lines.append("no difference: the ledger holds exactly what the replay of the recorded snapshots did")
    else:
        n = len(report.differences)
        lines.append(f"{n} difference{'s' if n > 1 else ''}:")
    for d in report.differences:
        values = ", ".join(f"{k}: live {a} / replay {b}" for k, (a, b) in d.fields.items())
        lines.append(f"- {d.time.isoformat()} cycle {d.run_id} {d.kind} {d.subject}: {values}")
        lines.append(f"    cause: {d.cause}")
    return "\n".join(lines)
