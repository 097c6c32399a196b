"""Reading execution runs back for people: each cycle's plan, orders with their fills, every
skipped order with its reason (and whether it is dust), errors and timings (GET /execution/runs).

`execution_runs.details` is read as the service stores it; numbers in it may be floats or decimal
strings, and older runs may lack newer keys, so everything here is read defensively.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Text, cast, exists, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from database.models.execution import ExecutionRun, FillRecord, Order

# A reason's first words -> its kind, so a page can group "why nothing traded" at a glance.
_KINDS = (
    ("kill switch", "kill_switch"),
    ("risk guard refused", "risk_refused"),
    ("QT_MAX_POSITION_PER_SYMBOL", "limit"),
    ("below QT_EXECUTION_MIN_NOTIONAL", "below_minimum"),
    ("beyond QT_EXECUTION_MAX_ORDERS", "max_orders"),
    ("insufficient cash", "cash"),
    ("exchange filter", "exchange_filter"),
    ("no mark price", "market"),
    ("no exchange rules", "market"),
    ("symbol status", "market"),
)
_DUST_KINDS = {"below_minimum", "exchange_filter"}


def reason_kind(reason: str) -> str:
    for prefix, kind in _KINDS:
        if reason.startswith(prefix):
            return kind
    return "stopped" if reason.startswith(("stopped", "halted", "an order's outcome")) else "other"


def as_decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class SkippedView:
    symbol: str
    side: str
    notional: Decimal | None
    reason: str
    kind: str
    dust: bool


def skipped_of(details: dict[str, Any] | None) -> list[SkippedView]:
    """The run's skipped orders; a below-minimum sell of a holding the cycle judged dust is dust."""
    details = details or {}
    dust = {d.get("symbol") for d in details.get("dust") or [] if isinstance(d, dict)}
    out: list[SkippedView] = []
    for item in details.get("skipped") or []:
        if not isinstance(item, dict):
            continue
        symbol, side, reason = str(item.get("symbol", "")), str(item.get("side", "")), str(item.get("reason", ""))
        kind = reason_kind(reason)
        is_dust = symbol in dust and side != "BUY" and kind in _DUST_KINDS
        out.append(
            SkippedView(symbol, side, as_decimal(item.get("notional")), reason, "dust" if is_dust else kind, is_dust)
        )
    return out


def skip_counts(skipped: list[SkippedView]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in skipped:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True, slots=True)
class RunDetail:
    run: ExecutionRun
    orders: list[Order]
    fills: dict[int, list[FillRecord]]  # order id -> its fills


class RunsReader:
    def __init__(self, sessions: sessionmaker[Session], *, exchange: str) -> None:
        self._sessions = sessions
        self.exchange = exchange

    def page(
        self,
        *,
        kind: str | None,
        status: str | None,
        symbol: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        offset: int,
    ) -> tuple[list[ExecutionRun], int]:
        """Runs newest first. `symbol`: runs with an order for it or naming it in their details."""
        q = select(ExecutionRun).where(ExecutionRun.exchange == self.exchange)
        if kind:
            q = q.where(ExecutionRun.kind == kind)
        if status:
            q = q.where(ExecutionRun.status == status)
        if since is not None:
            q = q.where(ExecutionRun.started_at >= since)
        if until is not None:
            q = q.where(ExecutionRun.started_at < until)
        if symbol:
            has_order = exists().where(Order.run_id == ExecutionRun.id, Order.symbol == symbol)
            # the symbol is validated ([A-Z0-9]) by the route: no LIKE wildcard can reach here
            named = cast(ExecutionRun.details, Text).like(f'%"{symbol}"%')
            q = q.where(or_(has_order, named))
        with self._sessions() as session:
            total = int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)
            rows = list(
                session.scalars(
                    q.order_by(ExecutionRun.started_at.desc(), ExecutionRun.id.desc()).limit(limit).offset(offset)
                )
            )
            return rows, total

    def orders_per_run(self, run_ids: list[int]) -> dict[int, int]:
        if not run_ids:
            return {}
        with self._sessions() as session:
            q = select(Order.run_id, func.count()).where(Order.run_id.in_(run_ids)).group_by(Order.run_id)
            return {int(r): int(n) for r, n in session.execute(q) if r is not None}

    def detail(self, run_id: int) -> RunDetail | None:
        with self._sessions() as session:
            run = session.get(ExecutionRun, run_id)
            if run is None or run.exchange != self.exchange:
                return None
            orders = list(session.scalars(select(Order).where(Order.run_id == run_id).order_by(Order.id)))
            fills: dict[int, list[FillRecord]] = {o.id: [] for o in orders}
            if orders:
                q = (
                    select(FillRecord)
                    .where(FillRecord.order_id.in_(list(fills)))
                    .order_by(FillRecord.time, FillRecord.id)
                )
                for f in session.scalars(q):
                    if f.order_id is not None:
                        fills[f.order_id].append(f)
            return RunDetail(run, orders, fills)
