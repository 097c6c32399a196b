"""Reconciliation: unknown outcomes with a grace window, late fills, fencing, start-up adoption.

An order whose outcome is not final (PENDING, SENDING, UNKNOWN, NEW, PARTIALLY_FILLED) is looked up
by its client order id, on a backoff. What it finds decides:

- found → its fills and state go to the ledger and the risk guard (a late fill, without a restart);
- not found, still PENDING (saved, never claimed for sending) → FAILED in one conditional statement
  (``status = PENDING``): the leader that planned it can no longer claim it (fencing), so nothing
  can be sent after the lookup said "never placed";
- not found, SENDING or UNKNOWN → stays unknown for ``QT_EXECUTION_UNKNOWN_GRACE_SECONDS`` (the
  exchange may still execute a request that timed out); after the window the account's orders for
  the symbol are searched by client order id before it is declared FAILED.

Resolved either way, the risk reservation is released at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from backend.exchanges.base import AccountSnapshot, OrderRequest, OrderResult
from backend.exchanges.errors import ExchangeError
from backend.execution.ledger import FAILED, PENDING, OpenOrder, PositionView, RecordedFill

if TYPE_CHECKING:
    from backend.execution.service import ExecutionService

log = logging.getLogger(__name__)
ZERO = Decimal(0)
# How far back reconciliation looks for executions the risk guard missed: the daily-loss rule
# reads the current UTC day, so two days always cover it.
RISK_RESTORE_WINDOW = timedelta(days=2)
MAX_BACKOFF_SECONDS = 30.0
NOT_FOUND = "looked up after an unknown outcome: the exchange has no such order"


def backoff(lookups: int) -> timedelta:
    """1, 2, 4, ... seconds between lookups of an unknown order, at most MAX_BACKOFF_SECONDS."""
    return timedelta(seconds=min(2.0 ** max(lookups, 0), MAX_BACKOFF_SECONDS))


@dataclass
class ReconcileReport:
    run_id: int | None
    resolved_orders: list[dict[str, Any]] = field(default_factory=list)
    fills_recovered: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)
    seeded: bool = False
    error: str | None = None
    unresolved: list[str] = field(default_factory=list)
    risk_records_restored: int = 0


class Reconciler:
    """The reconciliation half of an ExecutionService (it shares the service's lock and state)."""

    def __init__(self, service: ExecutionService) -> None:
        self.s = service

    # open orders ------------------------------------------------------------------------------
    async def resolve_open(self, orders: list[OpenOrder]) -> tuple[list[dict[str, Any]], list[str]]:
        """Look every non-final order up by client order id; returns (resolved, still unknown)."""
        resolved: list[dict[str, Any]] = []
        unresolved: list[str] = []
        for order in orders:
            outcome = await self._resolve_one(order)
            if outcome is None:
                unresolved.append(order.client_order_id)
            else:
                resolved.append(outcome)
                if not outcome.get("final", True):  # found, still working on the exchange
                    unresolved.append(order.client_order_id)
        return resolved, unresolved

    async def _resolve_one(self, order: OpenOrder) -> dict[str, Any] | None:
        s = self.s
        coid = order.client_order_id
        now = s._clock()
        if order.next_lookup_at is not None and now < order.next_lookup_at:
            return None  # not due yet (backoff)
        try:
            result = await s.exchange.query_order(order.symbol, coid)
            s._count("query_order", "ok")
        except ExchangeError as exc:
            s._count("query_order", type(exc).__name__)
            await s._db(s.ledger.schedule_lookup, coid, now + backoff(order.lookups))
            return None
        if result is None and order.status != PENDING:
            since = order.unknown_since or order.created_at or now
            if (now - since).total_seconds() < s._unknown_grace():
                # the exchange may still execute a request that timed out: keep it unknown
                await s._db(s.ledger.schedule_lookup, coid, now + backoff(order.lookups))
                return None
            result = await self._search_orders(order)
        if result is None:
            # PENDING: never claimed for sending, and the conditional update fences its leader out
            if not await s._db(s.ledger.fail_if_status, coid, order.status, NOT_FOUND):
                return None  # someone claimed or answered it meanwhile: look again next time
            s.guard.release(coid)  # resolved: nothing was placed, nothing stays reserved
            s._log.write(now, "order_not_found", client_order_id=coid, symbol=order.symbol)
            return {"client_order_id": coid, "status": FAILED}
        recorded = await self.apply_found(order, result)
        return {
            "client_order_id": coid,
            "status": result.status.value,
            "fills_recorded": len(recorded),
            "final": result.status.is_final,
        }

    async def _search_orders(self, order: OpenOrder) -> OrderResult | None:
        """Before declaring an unknown order failed: the account's orders for the symbol, by client id."""
        s = self.s
        try:
            found = await s.exchange.orders(order.symbol, since=order.created_at)
            s._count("all_orders", "ok")
        except ExchangeError as exc:
            s._count("all_orders", type(exc).__name__)
            raise
        return next((o for o in found if o.client_order_id == order.client_order_id), None)

    async def apply_found(self, order: OpenOrder, result: OrderResult) -> list[RecordedFill]:
        """A found order: its fills and state to the ledger, its execution to the guard."""
        s = self.s
        coid = order.client_order_id
        request = OrderRequest(order.symbol, order.side, order.requested_quantity, coid)
        recorded: list[RecordedFill] = []

        async def apply(res: OrderResult) -> Decimal:
            recorded.extend(await s._apply_result(coid, res))
            return sum((r.realised_pnl for r in recorded), ZERO)

        if result.executed_quantity > 0:
            await s.exchange.record_reconciled(request, result, now=s._clock(), realised_pnl=apply)
        else:
            await s._apply_result(coid, result)
            if result.status.is_final:
                s.guard.release(coid)
        return recorded

    # start-up ---------------------------------------------------------------------------------
    async def reconcile(self) -> ReconcileReport:
        """Resolve open orders, recover missing fills, restore the guard, compare balances."""
        s = self.s
        report = ReconcileReport(run_id=None)
        try:
            run_id: int = await s._db(s.ledger.start_run, "reconcile")
            report.run_id = run_id
            await s._refresh_market()
            open_orders = await s._db(s.ledger.open_orders)
            report.resolved_orders, report.unresolved = await self.resolve_open(open_orders)
            positions: dict[str, PositionView] = await s._db(s.ledger.positions)
            for symbol in sorted(positions):
                since = await s._db(s.ledger.latest_fill_time, symbol)
                try:
                    trades = await s.exchange.trades(symbol, since=since)
                    s._count("my_trades", "ok")
                except ExchangeError as exc:
                    s._count("my_trades", type(exc).__name__)
                    report.differences.append({"symbol": symbol, "error": f"trades not read: {exc}"})
                    continue
                report.fills_recovered += len(await s._record(trades, None))
            report.risk_records_restored = await self.restore_risk_records()
            account = await s.exchange.account()
            s._count("account", "ok")
            s._account = account
            report.differences.extend(await self.compare_balances(account, report))
            status = "degraded" if report.differences or report.unresolved else "ok"
            await s._db(
                s.ledger.finish_run,
                run_id,
                status=status,
                details={
                    "resolved_orders": report.resolved_orders,
                    "fills_recovered": report.fills_recovered,
                    "differences": report.differences,
                    "seeded": report.seeded,
                    "risk_records_restored": report.risk_records_restored,
                    "unresolved_orders": report.unresolved,
                },
            )
            for diff in report.differences:
                log.warning("reconciliation difference", extra={k: str(v) for k, v in diff.items()})
        except Exception as exc:
            report.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.error("reconciliation failed", extra={"error": report.error})
            if report.run_id is not None:
                try:
                    await s._db(s.ledger.finish_run, report.run_id, status="failed", error=report.error)
                except Exception:
                    log.exception("failed reconciliation not recorded")
        s.last_reconcile = report
        return report

    async def restore_risk_records(self) -> int:
        """Make the risk guard's recent executions agree with the ledger's (one truth for daily loss)."""
        s = self.s
        records = await s._db(s.ledger.executions_since, s._clock() - RISK_RESTORE_WINDOW)
        return await asyncio.to_thread(s.guard.restore_trades_sync, records)

    async def compare_balances(self, account: AccountSnapshot, report: ReconcileReport) -> list[dict[str, Any]]:
        s = self.s
        quote = s.ledger.quote
        differences: list[dict[str, Any]] = []
        exchange_cash = account.balances[quote].total if quote in account.balances else ZERO
        if not await s._db(s.ledger.is_seeded):
            await s._db(s.ledger.seed, exchange_cash)
            report.seeded = True
        else:
            ledger_cash: Decimal = await s._db(s.ledger.cash)
            if ledger_cash != exchange_cash:
                differences.append(
                    {"asset": quote, "ledger": format(ledger_cash, "f"), "exchange": format(exchange_cash, "f")}
                )
                await s._db(s.ledger.adjust_cash, exchange_cash)
        positions: dict[str, PositionView] = await s._db(s.ledger.positions)
        by_base = {p.base_asset: p for p in positions.values()}
        symbols_by_base = {
            r.base_asset: sym for sym, r in s._rules.items() if r.quote_asset == quote and r.base_asset != quote
        }
        for asset in sorted(set(by_base) | set(account.balances)):
            if asset == quote:
                continue
            held = account.balances[asset].total if asset in account.balances else ZERO
            pos = by_base.get(asset)
            symbol = pos.symbol if pos is not None else symbols_by_base.get(asset)
            if symbol is None:
                continue  # not tradable against our quote asset: not part of the portfolio
            ledger_qty = pos.quantity if pos is not None else ZERO
            if ledger_qty == held:
                continue
            mark = s._marks.get(symbol)
            price = mark.price if mark is not None else (pos.average_cost if pos is not None else ZERO)
            if not report.seeded:
                differences.append(
                    {"asset": asset, "symbol": symbol, "ledger": format(ledger_qty, "f"), "exchange": format(held, "f")}
                )
            await s._db(s.ledger.adjust_position, symbol, asset, held, price)
        return differences
