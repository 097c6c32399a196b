"""Recording an order's answer: its fills and state into the ledger in one transaction, the
cycle's holdings, cash and exposure kept up to date, every fill and order event in the trades log.

``Recorder`` is shared by the sending half (backend/execution/submit.py) and reconciliation
(backend/execution/reconcile.py, backend/execution/startup.py) of an ExecutionService.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from backend.exchanges.base import Fill, OrderResult
from backend.exchanges.errors import ExchangeError
from backend.execution.ledger_fills import base_asset_of
from backend.execution.ledger_records import Applied, RecordedFill

if TYPE_CHECKING:
    from backend.execution.service import ExecutionService


class Recorder:
    """The recording part of an ExecutionService (it shares the service's state)."""

    def __init__(self, service: ExecutionService) -> None:
        self.s = service

    async def record(
        self,
        fills: Iterable[Fill],
        client_order_id: str | None,
        order_update: dict[str, Any] | None = None,
    ) -> list[RecordedFill]:
        """New fills (and the order's new state) into the ledger; the cycle's holdings, cash and
        exposure follow; each fill is one line in the trades log."""
        s = self.s
        fills = list(fills)
        if not fills and not order_update:
            return []
        applied: Applied = await s._db(
            s.ledger.apply,
            fills,
            base_assets=s._base_assets(),
            conversions=s._conversions(),
            client_order_id=client_order_id,
            order_update=order_update,
        )
        s._held.update(applied.quantities)
        s._costs.update(applied.costs)
        s._cash = applied.cash
        if s._exposure_cache is not None:
            for symbol, qty in applied.quantities.items():
                value = s._exposure_of(symbol, qty)
                if value is not None:
                    s._exposure_cache[symbol] = value
                else:
                    s._exposure_cache.pop(symbol, None)
        recorded = applied.fills
        for item in recorded:
            f = item.fill
            base = s._base_assets().get(f.symbol) or base_asset_of(f.symbol, s.ledger.quote)
            if f.fee_asset and f.fee_asset not in (s.ledger.quote, base):
                s.fee_assets.add(f.fee_asset)  # the account pays fees in it: the planner keeps it
            s._log.write(
                s._clock(),
                "fill",
                client_order_id=client_order_id,
                symbol=f.symbol,
                side=f.side.value,
                trade_id=f.trade_id,
                price=f.price,
                quantity=f.quantity,
                fee=f.fee,
                fee_asset=f.fee_asset,
                realised_pnl=item.realised_pnl,
            )
        return recorded

    async def fills_of(self, result: OrderResult) -> list[Fill]:
        """The order's trades: those in the answer, or looked up by order id when the answer has none."""
        s = self.s
        if result.fills or result.executed_quantity <= 0:
            return list(result.fills)
        try:
            trades = await s.exchange.trades(result.symbol, since=None)
            s._count("my_trades", "ok")
        except ExchangeError as exc:
            s._count("my_trades", type(exc).__name__)
            raise
        return [t for t in trades if t.order_id is not None and t.order_id == result.exchange_order_id]

    async def apply_result(self, client_order_id: str, result: OrderResult) -> list[RecordedFill]:
        """An order's answer: its fills and state into the ledger, one line in the trades log."""
        s = self.s
        fills = await self.fills_of(result)
        recorded = await self.record(fills, client_order_id, {"status": result.status.value, "result": result})
        s._log.write(
            s._clock(),
            "order_" + result.status.value.lower(),
            client_order_id=client_order_id,
            symbol=result.symbol,
            side=result.side.value,
            exchange_order_id=result.exchange_order_id,
            executed_quantity=result.executed_quantity,
            quote_quantity=result.quote_quantity,
        )
        return recorded
