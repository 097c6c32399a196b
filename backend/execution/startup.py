"""Start-up reconciliation: before the first cycle, make the ledger and the risk guard agree with
the exchange.

In order: resolve the orders whose outcome is not final (backend/execution/reconcile.py), recover
fills the ledger missed since its latest one per symbol, re-derive the risk guard's recent
executions from the ledger (one truth for daily loss), then compare cash and holdings with the
account: the first start seeds the ledger, later starts adopt and report every difference.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from backend.exchanges.base import AccountSnapshot
from backend.exchanges.errors import ExchangeError
from backend.execution.ledger_records import PositionView

if TYPE_CHECKING:
    from backend.execution.service import ExecutionService

log = logging.getLogger(__name__)
ZERO = Decimal(0)
# How far back reconciliation looks for executions the risk guard missed: the daily-loss rule
# reads the current UTC day, so two days always cover it.
RISK_RESTORE_WINDOW = timedelta(days=2)


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


async def reconcile_at_startup(s: ExecutionService) -> ReconcileReport:
    """Resolve open orders, recover missing fills, restore the guard, compare balances."""
    report = ReconcileReport(run_id=None)
    try:
        if s._installation is not None:  # before anything can be sent (backend/execution/installation.py)
            s.id_prefix = await s._db(s._installation)
        run_id: int = await s._db(s.ledger.start_run, "reconcile")
        report.run_id = run_id
        await s._refresh_market()
        open_orders = await s._db(s.ledger.open_orders)
        report.resolved_orders, report.unresolved = await s.reconciler.resolve_open(open_orders)
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
            report.fills_recovered += len(await s.recorder.record(trades, None))
        report.risk_records_restored = await restore_risk_records(s)
        s.fee_assets |= await s._db(s.ledger.fee_assets)
        account = await s.exchange.account()
        s._count("account", "ok")
        s._account = account
        report.differences.extend(await compare_balances(s, account, report))
        await s.portfolio(refresh=False)  # the guard's exposure re-derived from the ledger (/risk after a restart)
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


async def restore_risk_records(s: ExecutionService) -> int:
    """Make the risk guard's recent executions agree with the ledger's (one truth for daily loss)."""
    records = await s._db(s.ledger.executions_since, s._clock() - RISK_RESTORE_WINDOW)
    return await asyncio.to_thread(s.guard.restore_trades_sync, records)


async def compare_balances(
    s: ExecutionService, account: AccountSnapshot, report: ReconcileReport
) -> list[dict[str, Any]]:
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
