"""The drift report: the live cycles replayed from their recorded snapshots, diffed against the ledger.

``python -m backend.backtest --compare-live --start ... --end ...`` reads the cycles the live
service recorded in ``market_snapshots`` (backend/execution/snapshots.py) over the period, and
drives one backtest book through them: the same ExecutionService, risk guard, paper fill model and
ledger as the backtest, on a scratch database seeded with the ledger's cash and positions before
the first cycle (and the risk guard with the day's executions), each cycle on its recorded clock,
snapshot, weights and order books, and with the settings it traded with: the environment's plus
the run-time overrides (PUT /settings) recorded with the cycle (a row recorded before they were:
the environment's alone). Then it compares, cycle by cycle, the orders and fills the
replay made with those the ledger holds for that cycle (matched by symbol and side, in order):
quantities, status, fill price and quantity, fee, realised PnL, slippage against the planned price;
and the ledger's state before each cycle with the replay's. Each difference is listed with its
cause (the comparison is in drift_compare.py); where the replay's trading settings are not those
the live cycle recorded, the cause names them. Nothing of the trading path is re-implemented here.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from backend.backtest.book import Book, build_book
from backend.backtest.clock import BacktestClock
from backend.backtest.drift_compare import ZERO, Comparer, Difference, DriftReport, cycle_records
from backend.backtest.inline import InlineLoop
from backend.execution.ledger import Ledger
from backend.execution.snapshots import (
    decode_book,
    decode_snapshot,
    default_values,
    ledger_state,
    load_snapshots,
    settings_record,
    trading_names,
    trading_values,
)
from backend.market.errors import MarketDataError
from backend.market.types import MarketSnapshot, OrderBook, SymbolRules
from backend.observability.metrics import Metrics
from backend.risk.guard import day_start
from config.runtime import SettingsHolder
from config.settings import ConfigError, Settings
from database.models.execution import LedgerBalance, PaperBalance, Position

# the report's types are part of this module's interface (compare_live returns a DriftReport)
__all__ = ["Difference", "DriftReport", "RecordedMarket", "compare_live", "format_report"]
log = logging.getLogger(__name__)
Cycle = tuple[int, int | None, datetime]  # (index in the replay, live run id, time)


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


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "unset" if value is None else str(value)


def _spans(cycles: list[Cycle]) -> str:
    """The live run ids of each run of consecutive replayed cycles, e.g. "cycles 4..6, 9"."""
    groups: list[list[Cycle]] = []
    for item in cycles:
        if groups and groups[-1][-1][0] == item[0] - 1:
            groups[-1].append(item)
        else:
            groups.append([item])

    def label(c: Cycle) -> str:
        return str(c[1]) if c[1] is not None else c[2].isoformat()

    parts = [label(g[0]) if len(g) == 1 else f"{label(g[0])}..{label(g[-1])}" for g in groups]
    return f"cycle{'s' if len(cycles) > 1 else ''} {', '.join(parts)}"


class CycleSettings:
    """Each cycle's recorded settings put in force on the replay's holder (which the planner, the risk
    guard and the fill model read at every use), and what the report says about them."""

    def __init__(self, holder: SettingsHolder) -> None:
        self.holder = holder
        self.overridden: dict[str, list[Cycle]] = {}  # "NAME=value" -> cycles it was in force
        self.refused: dict[str, list[Cycle]] = {}  # why recorded overrides were not applied -> cycles
        self.differ: dict[str, list[Cycle]] = {}  # "NAME live a / replay b" -> cycles
        self.unrecorded: list[Cycle] = []

    def apply(self, recorded: dict[str, Any] | None, cycle: Cycle) -> str | None:
        """Put this cycle's settings in force; the cause naming the trading settings that are not
        those the live cycle had (None when they are, or when the cycle recorded none)."""
        if recorded is None:  # recorded before the cycles' settings were: the environment's alone
            self.unrecorded.append(cycle)
            self._set({})
            return None
        overrides = dict(recorded.get("overrides") or {})
        for name in sorted(overrides):
            self.overridden.setdefault(f"{name}={_shown(overrides[name])}", []).append(cycle)
        refused = self._set(overrides)
        if refused is not None:
            self.refused.setdefault(refused, []).append(cycle)
        known = set(trading_names())
        live = {k: v for k, v in (recorded.get("trading") or {}).items() if k in known}
        names = sorted(set(live) | set(settings_record(self.holder)["trading"]))
        live.update(default_values([n for n in names if n not in live]))
        mine = trading_values(self.holder, names)
        differ = [f"{n} live {_shown(live[n])} / replay {_shown(mine[n])}" for n in names if live[n] != mine[n]]
        for item in differ:
            self.differ.setdefault(item, []).append(cycle)
        if not differ:
            return None
        why = f" (the recorded overrides were not applied: {refused})" if refused else ""
        return f"the settings differ from the live cycle's: {'; '.join(differ)}{why}"

    def _set(self, overrides: dict[str, Any]) -> str | None:
        if self.holder.overrides == overrides:
            return None
        if self.holder.overrides:
            self.holder.clear(list(self.holder.overrides))
        if not overrides:
            return None
        try:
            self.holder.apply(overrides)
        except ConfigError as exc:  # e.g. recorded under another environment: the valid ones still apply
            problems: list[str] = []
            for name in sorted(overrides):
                try:
                    self.holder.apply({name: overrides[name]})
                except ConfigError as one:
                    problems.extend(one.problems)
            return "; ".join(problems or exc.problems)
        return None

    def lines(self) -> list[str]:
        def listed(items: dict[str, list[Cycle]]) -> str:
            return ", ".join(f"{k} ({_spans(v)})" for k, v in items.items())

        out = []
        if self.overridden:
            out.append(f"settings overridden at run time during the period: {listed(self.overridden)}")
        if self.refused:
            out.append(f"recorded overrides not applied (not valid with this environment): {listed(self.refused)}")
        if self.differ:
            out.append(
                f"the replay's trading settings differ from the live cycles' (run it with the service's "
                f"environment): {listed(self.differ)}"
            )
        if self.unrecorded:
            n = len(self.unrecorded)
            out.append(
                f"{n} cycle{'s' if n > 1 else ''} recorded without their settings ({_spans(self.unrecorded)}): "
                "replayed with the environment's alone"
            )
        return out


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
        # the scratch risk store starts with the day's executions (not a repair: restore_trades_sync
        # would log one, as if the live store had lost them)
        for record in before:
            book.store.upsert_trade(record)
        book.guard.load()
        log.info("drift replay: risk guard seeded with the ledger's executions", extra={"count": len(before)})
        comparer = Comparer(report, exchange_kind, current.execution.paper_fee_bps)
        in_force = CycleSettings(holder)
        for index, (run_id, time, payload) in enumerate(rows):
            at = (time, run_id)
            clock.set(time)
            market.load(payload)
            settings_cause = in_force.apply(payload.get("settings"), (index, run_id, time))
            raw = payload.get("weights")
            weights["value"] = None if raw is None else {s: Decimal(w) for s, w in raw.items()}
            state_differs = comparer.state(payload["state"], ledger_state(book.service.ledger), at)
            cycle = await book.service.run_cycle()
            with book.sessions() as session:
                replayed = cycle_records(session, cycle.run_id)
            with live() as session:
                recorded = cycle_records(session, run_id)
            comparer.cycle(recorded, replayed, state_differs, set(payload.get("books", {})), at, settings_cause)
            report.cycles += 1
        report.live, report.replay = comparer.live.as_dict(), comparer.replay.as_dict()
        report.settings = in_force.lines()
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
    lines.extend(report.settings)
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
