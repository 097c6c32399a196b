"""`GuardedExchange`: the only way to reach an adapter's ``submit_order``.

Usage from the rebalance cycle::

    guarded = GuardedExchange(exchange, guard)
    context = RiskContext(now=now, reference_price=mark, reference_time=mark_time,
                          positions=ledger_notionals, fill_sequence=seq_read_before_ledger)
    try:
        result = await guarded.submit_order(order, context, realised_pnl=ledger.apply)
    except RiskRefused as refused:        # nothing was sent; refused.decision.rule names the rule
        ...
    except OrderRejectedError: ...         # the exchange said no; nothing placed; not a failure
    except UnknownOutcomeError: ...        # reconcile by client order id, then record_reconciled()

Both ``submit_order`` and ``record_reconciled`` check the average fill price against the reference
afterwards: outside the price-sanity bound, the kill switch goes on.

``realised_pnl`` is the caller's ledger hook: it gets the OrderResult, applies it to the ledger and
returns the realised PnL (quote asset, fees included) that the daily-loss rule sums. It runs while
the order's exposure is still reserved, so no concurrent check can miss it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal

from backend.exchanges.base import AccountSnapshot, Exchange, Fill, OrderRequest, OrderResult, RestingOrders
from backend.exchanges.errors import OrderRejectedError, UnknownOutcomeError
from backend.risk.guard import RiskGuard
from backend.risk.models import ZERO, RiskContext, RiskRefused

log = logging.getLogger(__name__)

RealisedPnl = Callable[[OrderResult], Decimal | Awaitable[Decimal]]


class GuardedExchange:
    """An exchange adapter behind the risk guard: check → submit → record, one order at a time.

    Reads (``account``, ``query_order``, ``trades``) pass straight through. ``submit_order`` needs a
    ``RiskContext`` and raises ``RiskRefused`` when the guard says no. Exchange failures (anything
    but a rejection) are counted; after ``QT_RISK_HALT_AFTER_FAILURES`` in a row the guard turns the
    kill switch on ("auto: exchange failures"). A success resets the count.
    """

    def __init__(self, exchange: Exchange, guard: RiskGuard, *, refresh_state: bool = True) -> None:
        self._exchange = exchange
        self.guard = guard
        # re-read the state store before each order, so a kill switch set by another replica applies
        self._refresh_state = refresh_state

    @property
    def name(self) -> str:
        return self._exchange.name

    async def account(self) -> AccountSnapshot:
        return await self._exchange.account()

    async def query_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        return await self._exchange.query_order(symbol, client_order_id)

    async def trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        return await self._exchange.trades(symbol, since)

    async def orders(self, symbol: str, since: datetime | None = None) -> list[OrderResult]:
        """The account's orders for a symbol (to find an unknown one by client id); [] when the
        adapter cannot list them."""
        lister = getattr(self._exchange, "orders", None)
        if lister is None:
            return []
        found: list[OrderResult] = await lister(symbol, since)
        return found

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """Cancel a resting order (risk-reducing: no check); NotImplementedError when the adapter
        has no resting orders."""
        if not isinstance(self._exchange, RestingOrders):
            raise NotImplementedError(f"{self._exchange.name} cannot cancel orders")
        return await self._exchange.cancel_order(symbol, client_order_id)

    async def open_orders(self, symbol: str | None = None) -> list[OrderResult]:
        if not isinstance(self._exchange, RestingOrders):
            return []
        return await self._exchange.open_orders(symbol)

    async def close(self) -> None:
        await self._exchange.close()

    async def submit_order(
        self, order: OrderRequest, context: RiskContext, *, realised_pnl: RealisedPnl | None = None
    ) -> OrderResult:
        """Check, submit and record one order. Raises RiskRefused (not sent) or the adapter's error."""
        guard = self.guard
        if self._refresh_state:
            try:
                await guard.refresh()
            except Exception:
                log.exception("risk state refresh failed; the guard refuses orders until it succeeds")
        decision = guard.check(order, context)
        if not decision.allowed:
            log.info(
                f"order refused by risk guard: {decision.reason}",
                extra={"symbol": order.symbol, "side": order.side.value, "rule": decision.rule},
            )
            raise RiskRefused(decision)
        try:
            result = await self._exchange.submit_order(order)
        except OrderRejectedError:
            guard.release(order.client_order_id)
            raise
        except (UnknownOutcomeError, asyncio.CancelledError) as exc:
            guard.mark_unknown(order.client_order_id)
            if isinstance(exc, UnknownOutcomeError):
                await guard.note_exchange_failure(exc, now=context.now)
            raise
        except Exception as exc:
            guard.release(order.client_order_id)
            await guard.note_exchange_failure(exc, now=context.now)
            raise
        guard.note_exchange_success()
        try:
            await self._record(order, result, context.now, realised_pnl)
        finally:
            await self._check_fill_price(order, result, context)
        return result

    async def _check_fill_price(self, order: OrderRequest, result: OrderResult, context: RiskContext) -> None:
        """A fill outside the price-sanity bound means the prices we trade on are wrong: halt."""
        breach = self.guard.fill_price_breach(order, result, context)
        if breach is None:
            return
        log.error("fill price outside the bound; trading halted", extra={"symbol": order.symbol, "reason": breach})
        metrics = self.guard.metrics
        if metrics is not None:
            metrics.risk_fill_price_halts.labels(symbol=order.symbol).inc()
        await self.guard.halt(breach[:500], breach, now=context.now)

    async def record_reconciled(
        self,
        order: OrderRequest,
        result: OrderResult,
        *,
        now: datetime,
        realised_pnl: RealisedPnl | None = None,
        recorded_quantity: Decimal = ZERO,
    ) -> bool:
        """Record an order found by lookup (a lost answer, a resting order, a restart), or release it.

        Its fill is checked like an answered one: an average fill price outside the bound around
        ``order.reference_price`` (the price the order was planned at, stored with it in the ledger)
        halts. ``recorded_quantity`` is what the caller had already recorded of the order (checked
        then): only an order that executed more is checked again, so a resting order found at every
        check halts once, and not again after an operator turned the switch off.
        """
        context = RiskContext(now=now, reference_price=order.reference_price, reference_time=None)
        try:
            return await self._record(order, result, now, realised_pnl)
        finally:
            if result.executed_quantity > recorded_quantity:
                await self._check_fill_price(order, result, context)

    async def _record(
        self, order: OrderRequest, result: OrderResult, now: datetime, realised_pnl: RealisedPnl | None
    ) -> bool:
        pnl = ZERO
        failure: BaseException | None = None
        if realised_pnl is not None and result.executed_quantity > 0:
            try:
                value = realised_pnl(result)
                pnl = await value if inspect.isawaitable(value) else value
            except Exception as exc:
                # the fill is real: record its notional anyway, then let the caller see its error
                log.exception("realised PnL hook failed; fill recorded with zero PnL")
                failure = exc
        recorded = await self.guard.record_result(order, result, realised_pnl=pnl, now=now)
        if failure is not None:
            raise failure
        return recorded
