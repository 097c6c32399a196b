"""The market each live execution cycle traded on, recorded for the backtest's drift report.

Around every scheduled cycle the recorder captures what the cycle saw: the clock, the market
snapshot (rules, 24h tickers and book tops of the symbols that matter to the cycle: the weights'
and the holdings'), the order books the paper exchange walked to fill it, the weights it traded
toward, the ledger's cash and positions before it, and the settings it traded with (the run-time
overrides in effect, and the trading settings the environment or an override sets: see
``settings_record``). One row per cycle in ``market_snapshots``
(``run_id`` = the cycle's execution run), kept ``QT_SNAPSHOT_RETENTION_DAYS`` days (0: nothing is
recorded) and pruned by the ``snapshot-prune`` job. ``python -m backend.backtest --compare-live``
replays these rows through the same execution code and diffs the result against the ledger
(backend/backtest/drift.py).

Capture is scoped to the cycle's task by a context variable: a portfolio view the API refreshes
meanwhile is not mistaken for the cycle's snapshot.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import enum
import functools
import logging
import math
import typing
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from backend.market.types import BookLevel, BookTop, MarketSnapshot, OrderBook, SymbolRules, Ticker24h
from config.runtime import SettingsHolder
from config.settings import SECTIONS, field_refs
from database.models.snapshots import MarketSnapshotRecord

log = logging.getLogger(__name__)
PRUNE_JOB = "snapshot-prune"
PRUNE_SECONDS = 3600
_TABLE = cast(Table, MarketSnapshotRecord.__table__)


# codec: dataclasses of the market types <-> JSON (decimals as exact text, times as ISO) -----------
def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _record(obj: Any) -> dict[str, Any]:
    return {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _build(cls: type, data: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        raw, hint = data[f.name], hints[f.name]
        if raw is None:
            values[f.name] = None
        elif hint is Decimal:
            values[f.name] = Decimal(raw)
        elif hint is datetime or hint == datetime | None:
            values[f.name] = datetime.fromisoformat(raw)
        else:
            values[f.name] = raw
    return cls(**values)


def encode_snapshot(snapshot: MarketSnapshot, symbols: set[str]) -> dict[str, Any]:
    """The snapshot restricted to ``symbols`` (every symbol when empty)."""

    def wanted(name: str) -> bool:
        return not symbols or name in symbols

    return {
        "taken_at": snapshot.taken_at.isoformat(),
        "source": snapshot.source,
        "rules": [_record(r) for s, r in sorted(snapshot.rules.items()) if wanted(s)],
        "tickers": [_record(t) for s, t in sorted(snapshot.tickers.items()) if wanted(s)],
        "book_tops": [_record(t) for s, t in sorted(snapshot.book_tops.items()) if wanted(s)],
    }


def decode_snapshot(data: dict[str, Any]) -> MarketSnapshot:
    return MarketSnapshot(
        taken_at=datetime.fromisoformat(data["taken_at"]),
        source=data["source"],
        rules={r["symbol"]: _build(SymbolRules, r) for r in data["rules"]},
        tickers={t["symbol"]: _build(Ticker24h, t) for t in data["tickers"]},
        book_tops={t["symbol"]: _build(BookTop, t) for t in data["book_tops"]},
    )


def encode_book(book: OrderBook) -> dict[str, Any]:
    return {
        "symbol": book.symbol,
        "time": book.time.isoformat(),
        "bids": [[format(lv.price, "f"), format(lv.qty, "f")] for lv in book.bids],
        "asks": [[format(lv.price, "f"), format(lv.qty, "f")] for lv in book.asks],
    }


def decode_book(data: dict[str, Any]) -> OrderBook:
    def levels(rows: list[list[str]]) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(Decimal(p), Decimal(q)) for p, q in rows)

    return OrderBook(data["symbol"], levels(data["bids"]), levels(data["asks"]), datetime.fromisoformat(data["time"]))


# settings: what the cycle's planner, risk guard and paper fill model read -----------------------
# The risk and execution sections (secrets and what a cycle does not read left out) and the
# slicing window. Recorded only where the environment or an override sets them (else: the default).
TRADING_SECTIONS = ("risk", "execution")
TRADING_EXTRA = frozenset({"QUANTUM_TRADER_EXECUTION_SECONDS"})
NOT_TRADING = frozenset(
    {
        "QT_RISK_STATE_DB",
        "QT_SNAPSHOT_RETENTION_DAYS",
        "QT_BINANCE_RECV_WINDOW_MS",
        "QT_EXECUTION_BINANCE_TESTNET",
        "QT_EXECUTION_LIVE_CONFIRM",
        "QT_EXECUTION_RESTING_CHECK_SECONDS",
        "QT_EXECUTION_UNKNOWN_GRACE_SECONDS",
        "QT_PAPER_STARTING_CASH",  # the replay starts from the recorded ledger
    }
)


def json_value(value: Any) -> Any:
    """A setting's value as JSON (decimals as exact text, enums by value, models as objects)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, BaseModel):
        return json_value(value.model_dump(by_alias=True))
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [json_value(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or Infinity
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@functools.cache
def trading_names() -> tuple[str, ...]:
    return tuple(
        sorted(
            env
            for env, ref in field_refs().items()
            if (ref.section in TRADING_SECTIONS or env in TRADING_EXTRA) and not ref.secret and env not in NOT_TRADING
        )
    )


def trading_values(holder: SettingsHolder, names: Collection[str]) -> dict[str, Any]:
    """The effective values of ``names`` (trading settings), as JSON."""
    refs, current = field_refs(), holder.current
    return {env: json_value(getattr(getattr(current, refs[env].section), refs[env].field)) for env in names}


def default_values(names: Collection[str]) -> dict[str, Any]:
    """The default values of ``names`` (what a setting nobody sets holds), as JSON."""
    refs = field_refs()
    fields = {env: SECTIONS[refs[env].section].model_fields[refs[env].field] for env in names}
    return {env: json_value(info.get_default(call_default_factory=True)) for env, info in fields.items()}


def settings_record(holder: SettingsHolder) -> dict[str, Any]:
    """The settings a cycle trades with: ``overrides`` (env name -> value, the run-time overrides in
    effect, PUT /settings) and ``trading`` (the effective value of each trading setting the
    environment or an override sets; the others are at their default)."""
    overrides = holder.overrides
    names = [env for env in trading_names() if env in overrides or holder.base_source(env) == "env"]
    return {
        "overrides": {name: json_value(overrides[name]) for name in sorted(overrides)},
        "trading": trading_values(holder, names),
    }


# capture -------------------------------------------------------------------------------------------
@dataclass
class Capture:
    """What one cycle saw (filled in by the wrapped snapshot, book and selection functions)."""

    time: datetime
    state: dict[str, Any]
    snapshot: MarketSnapshot | None = None
    weights: dict[str, Decimal] | None = None
    books: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # symbol -> books in order
    settings: dict[str, Any] | None = None  # settings_record() at the cycle's start

    def payload(self) -> dict[str, Any]:
        if self.snapshot is None:
            raise ValueError("no snapshot captured")
        symbols = set(self.weights or {}) | set(self.state.get("positions", {})) | set(self.books)
        return {
            "time": self.time.isoformat(),
            "snapshot": encode_snapshot(self.snapshot, symbols),
            "weights": None if self.weights is None else {s: format(w, "f") for s, w in sorted(self.weights.items())},
            "books": self.books,
            "state": self.state,
            **({} if self.settings is None else {"settings": self.settings}),
        }


_current: contextvars.ContextVar[Capture | None] = contextvars.ContextVar("qt_snapshot_capture", default=None)


def ledger_state(ledger: Any) -> dict[str, Any]:
    """The ledger's cash and positions (blocking), as recorded before a cycle."""
    positions = ledger.positions()
    return {
        "cash": format(ledger.cash(), "f"),
        "contributed": format(ledger.contributed(), "f"),
        "positions": {
            s: {
                "base_asset": p.base_asset,
                "quantity": format(p.quantity, "f"),
                "average_cost": format(p.average_cost, "f"),
                "realised_pnl": format(p.realised_pnl, "f"),
                "fees_paid": format(p.fees_paid, "f"),
            }
            for s, p in positions.items()
            if p.quantity != 0
        },
    }


class SnapshotRecorder:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        exchange: str,
        retention_days: Callable[[], int],
        clock: Any,
        settings: SettingsHolder | None = None,
    ) -> None:
        self._sessions = sessions
        self.exchange = exchange
        self._retention_days = retention_days
        self._clock = clock
        self._settings = settings

    # wrappers of the functions the execution service and the paper exchange call -------------------
    def snapshot_fn(self, fn: Callable[[], Awaitable[MarketSnapshot]]) -> Callable[[], Awaitable[MarketSnapshot]]:
        async def snapshot() -> MarketSnapshot:
            result = await fn()
            capture = _current.get()
            if capture is not None and capture.snapshot is None:
                capture.snapshot = result
            return result

        return snapshot

    def book_fn(self, fn: Callable[[str, int], Awaitable[OrderBook]]) -> Callable[[str, int], Awaitable[OrderBook]]:
        async def book(symbol: str, limit: int) -> OrderBook:
            result = await fn(symbol, limit)
            capture = _current.get()
            if capture is not None:
                capture.books.setdefault(symbol, []).append(encode_book(result))
            return result

        return book

    def selection_fn(self, fn: Callable[[], Awaitable[dict[str, Decimal] | None]]) -> Any:
        async def selection() -> dict[str, Decimal] | None:
            result = await fn()
            capture = _current.get()
            if capture is not None:
                capture.weights = None if result is None else dict(result)
            return result

        return selection

    # around a cycle -----------------------------------------------------------------------------
    async def around(self, service: Any, cycle: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``cycle`` (the rebalance job) capturing its inputs, then store them with its run id."""
        if self._retention_days() <= 0:
            return await cycle()
        try:
            state = await asyncio.to_thread(ledger_state, service.ledger)
        except Exception:
            log.exception("ledger state not read: this cycle's snapshot is not recorded")
            return await cycle()
        capture = Capture(time=self._clock(), state=state)
        if self._settings is not None:
            try:
                capture.settings = settings_record(self._settings)
            except Exception:  # the cycle still runs; its replay uses the environment's settings
                log.exception("settings not read: this cycle's snapshot records none")
        token = _current.set(capture)
        try:
            result = await cycle()
        finally:
            _current.reset(token)
        report = service.last_report
        if capture.snapshot is not None and report is not None and report.run_id is not None:
            try:
                await asyncio.to_thread(self.save, report.run_id, capture)
            except Exception as exc:  # the cycle is done; a lost snapshot is reported, not raised
                log.exception("market snapshot not recorded")
                errors = getattr(result, "errors", None)
                if isinstance(errors, dict):
                    errors["market_snapshot"] = f"{type(exc).__name__}: {exc}"
        return result

    # storage ------------------------------------------------------------------------------------
    def save(self, run_id: int, capture: Capture) -> None:
        with self._sessions.begin() as session:
            session.connection().execute(
                insert(_TABLE),
                {"run_id": run_id, "exchange": self.exchange, "taken_at": capture.time, "payload": capture.payload()},
            )

    def prune(self, now: datetime | None = None) -> int:
        """Delete the rows older than the retention; returns how many."""
        days = self._retention_days()
        cutoff = (now or self._clock()) - timedelta(days=max(days, 0))
        with self._sessions.begin() as session:
            result = session.connection().execute(delete(_TABLE).where(_TABLE.c.taken_at < cutoff))
            return int(result.rowcount or 0)


def load_snapshots(
    sessions: sessionmaker[Session], start: datetime, end: datetime, exchange: str | None = None
) -> list[tuple[int | None, datetime, dict[str, Any]]]:
    """(run id, time, payload) of the recorded cycles with start <= time <= end, oldest first."""
    query = select(_TABLE.c.run_id, _TABLE.c.taken_at, _TABLE.c.payload).where(
        _TABLE.c.taken_at >= start, _TABLE.c.taken_at <= end
    )
    if exchange is not None:
        query = query.where(_TABLE.c.exchange == exchange)
    with sessions() as session:
        rows = session.connection().execute(query.order_by(_TABLE.c.taken_at, _TABLE.c.id)).all()
    return [(r.run_id, r.taken_at, r.payload) for r in rows]
