"""Sending a cycle's plan: each order fitted to the cash, sized by quote amount, checked by the
risk guard, claimed (fencing) and sent, its answer recorded.

``Submitter`` is the sending half of an ExecutionService (it shares the service's lock and state);
reconciliation (fencing, unknown outcomes) is ``backend/execution/reconcile.py``.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from backend.amounts import exact_sum
from backend.exchanges.base import OrderRequest, OrderResult, OrderSide, OrderStatus, OrderType
from backend.exchanges.errors import (
    ExchangeConfigError,
    OrderRejectedError,
    RateLimitedError,
    TemporaryExchangeError,
    UnknownOutcomeError,
)
from backend.exchanges.filters import filter_failure, quantize_quantity
from backend.execution.ledger_records import FAILED, REFUSED, SKIPPED, ZERO, OpenOrder, RecordedFill
from backend.execution.planner import OrderPlan, PlannedOrder, PlanParams, cash_limit_texts
from backend.execution.resting import maker_request_ok
from backend.execution.shortfall import shortfall_of
from backend.execution.styles import LIMIT_IOC, style_fields
from backend.risk.models import RiskContext, RiskRefused

if TYPE_CHECKING:
    from backend.execution.reports import CycleReport
    from backend.execution.service import ExecutionService

QUOTE_QUANTUM = Decimal("0.00000001")


def quote_amount(
    order: PlannedOrder, params: PlanParams | None = None, held: Decimal = ZERO, ask: Decimal | None = None
) -> Decimal | None:
    """A buy is sent by quote amount (Binance quoteOrderQty), so what the fill spends can never exceed
    what the risk guard allowed. It is the planned quantity at the best ask (what it costs at the
    top of the book, not at the mid), capped at the per-trade limit and at the room left under the
    per-symbol limit (`held` = the symbol's exposure now), floored to 1e-8. Sells go by quantity."""
    if order.side is not OrderSide.BUY:
        return None
    planned = order.quantity * order.price
    amount = order.quantity * max(ask, order.price) if ask is not None and ask > 0 else planned
    if params is not None:
        if params.max_notional_per_trade is not None and params.max_notional_per_trade > 0:
            amount = min(amount, params.max_notional_per_trade)
        if params.max_position_per_symbol is not None and params.max_position_per_symbol > 0:
            amount = min(amount, max(params.max_position_per_symbol - held, planned))
    return amount.quantize(QUOTE_QUANTUM, rounding=ROUND_DOWN)


class Submitter:
    """The sending half of an ExecutionService."""

    def __init__(self, service: ExecutionService) -> None:
        self.s = service

    def refuse_all(self, report: CycleReport, plan: OrderPlan, halt: str) -> None:
        """The kill switch is on: every planned order refused (skipped, counted, logged), none saved."""
        s = self.s
        for order in plan.orders:
            s._skip(report, order.symbol, order.side.value, order.notional, f"kill switch on: {halt}")
            s._order_metric(order.side, "refused")
            s._log.write(
                s._clock(),
                "order_refused",
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side.value,
                quantity=order.quantity,
                reason=f"kill switch on: {halt}",
            )
        report.status = "halted"
        report.reason = f"kill switch on: {halt}; nothing submitted"
        self.last_result: OrderResult | None = None  # the answer to the last order sent

    async def submit_plan(self, report: CycleReport, plan: OrderPlan) -> None:
        s = self.s
        stop: str | None = None
        for order in plan.orders:
            if stop is not None:
                s._skip(report, order.symbol, order.side.value, order.notional, stop)
                await s._db(s.ledger.update_order, order.client_order_id, status=SKIPPED, error_message=stop)
                continue
            fitted = await self.fit_buy_to_cash(report, order) if order.side is OrderSide.BUY else order
            if fitted is None:
                await s._db(
                    s.ledger.update_order,
                    order.client_order_id,
                    status=SKIPPED,
                    error_message="insufficient cash after sells",
                )
                continue
            if fitted is not order:
                await s._db(s.ledger.resize_order, fitted.client_order_id, fitted.quantity, fitted.note)
            stop = await self.submit_one(report, fitted)

    async def fit_buy_to_cash(self, report: CycleReport, order: PlannedOrder) -> PlannedOrder | None:
        """Sells may have freed less than planned; never send a buy the cash cannot pay for, nor one
        that spends the cash buffer: a buy may spend only the cash left above QT_EXECUTION_CASH_BUFFER."""
        s = self.s
        params = s._params()
        spendable = s._cash - params.cash_buffer
        margin = 1 + params.cost_margin_bps / Decimal(10_000)
        if order.quantity * order.price * margin <= spendable:
            return order
        cut_note, short_reason = cash_limit_texts(
            params.cash_buffer, "cut to cash after sells", "insufficient cash after sells"
        )
        rules = s._rules.get(order.symbol)
        if rules is None:
            return None
        qty = quantize_quantity(rules, max(spendable, ZERO) / (order.price * margin), OrderType.MARKET)
        if qty * order.price < params.min_notional or filter_failure(rules, qty, order.price, OrderType.MARKET):
            s._skip(report, order.symbol, order.side.value, order.notional, short_reason)
            return None
        note = "; ".join(x for x in (order.note, cut_note) if x)
        return PlannedOrder(order.symbol, order.side, qty, order.price, order.client_order_id, note)

    async def send(
        self, report: CycleReport, order: PlannedOrder, *, style: str | None, parent: str | None = None
    ) -> OrderResult | None:
        """Send one saved order in this style (a child of `parent`); the exchange's answer, or None."""
        self.last_result = None
        await self.submit_one(report, order, style=style, parent=parent)
        return self.last_result

    async def submit_one(
        self, report: CycleReport, order: PlannedOrder, *, style: str | None = None, parent: str | None = None
    ) -> str | None:
        """Persist, submit, record. Returns a reason to stop the cycle, or None to go on."""
        s = self.s
        self.last_result = None
        coid = order.client_order_id
        s._log.write(
            s._clock(),
            "order_planned",
            client_order_id=coid,
            symbol=order.symbol,
            side=order.side.value,
            quantity=order.quantity,
            price=order.price,
            note=order.note,
        )
        params = s._params()
        style = style or params.order_style
        rules = s._rules.get(order.symbol)
        request = OrderRequest(
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            client_order_id=coid,
            reference_price=order.price,
            **style_fields(  # type: ignore[arg-type]
                style,
                order.side,
                order.price,
                params.max_slippage_bps,
                rules.tick_size if rules is not None else ZERO,
                quote_amount(order, params, s._exposure().get(order.symbol, ZERO), s._asks.get(order.symbol)),
                s._tops.get(order.symbol),
            ),
        )
        sequence = s.guard.fill_sequence  # read before the ledger (see RiskContext)
        exposure = s._exposure()
        mark = s._marks.get(order.symbol)
        # independent of the planned price: the ticker's last trade price against the book mid
        reference = s._references.get(order.symbol) if mark is not None and mark.from_book else None
        context = RiskContext(
            now=s._clock(),
            reference_price=reference.price if reference is not None else None,
            reference_time=reference.time if reference is not None else None,
            positions=exposure,
            fill_sequence=sequence,
            price_time=mark.time if mark is not None else None,
        )
        recorded: list[RecordedFill] = []

        async def apply(res: OrderResult) -> Decimal:
            recorded.extend(await s.recorder.apply_result(coid, res))
            return exact_sum(r.realised_pnl for r in recorded)

        fenced = await s.reconciler.fence(coid, request.quote_quantity)
        if fenced is not None:
            s._skip(report, order.symbol, order.side.value, order.notional, fenced)
            s._log.write(s._clock(), "order_fenced", client_order_id=coid, reason=fenced)
            report.status = "degraded"
            report.reason = fenced
            return fenced
        try:
            result = await s.exchange.submit_order(request, context, realised_pnl=apply)
            s._count("new_order", "ok")
        except RiskRefused as exc:
            decision = exc.decision
            rule = decision.rule.value if decision.rule is not None else "unknown"
            s._order_metric(order.side, "refused")
            reason = f"risk guard refused ({rule}): {decision.reason}"
            s._skip(report, order.symbol, order.side.value, order.notional, reason)
            await s._db(s.ledger.update_order, coid, status=REFUSED, error_message=reason)
            s._log.write(s._clock(), "order_refused", client_order_id=coid, rule=rule, reason=decision.reason)
            if rule == "kill_switch":
                report.status = "halted"
                report.reason = f"kill switch on: {decision.reason}"
                return report.reason
            return None
        except UnknownOutcomeError as exc:
            s._count("new_order", "unknown")
            return await s.reconciler.after_unknown(report, order, exc)
        except OrderRejectedError as exc:
            s._count("new_order", "rejected")
            report.failed += 1
            s._order_metric(order.side, "rejected")
            await s._db(
                s.ledger.update_order,
                coid,
                status=OrderStatus.REJECTED.value,
                error_code=exc.code,
                error_message=str(exc),
            )
            s._log.write(s._clock(), "order_rejected", client_order_id=coid, code=exc.code, message=str(exc))
            if maker_request_ok(request, exc.code, str(exc)):
                # the book crossed the maker price meanwhile: finish it as a taker at once
                report.failed -= 1
                as_open = OpenOrder(
                    coid,
                    order.symbol,
                    order.side,
                    OrderStatus.REJECTED.value,
                    order.quantity,
                    order_type=OrderType.LIMIT_MAKER.value,
                    parent_client_order_id=parent,
                    reference_price=order.price,
                )
                await s.resting.child(report, as_open, order.quantity, LIMIT_IOC, "t")
                return None
            report.errors[coid] = f"rejected {exc.code}: {exc}"
            return None
        except ExchangeConfigError as exc:
            s._count("new_order", "config_error")
            report.failed += 1
            s._order_metric(order.side, "failed")
            await s._db(s.ledger.update_order, coid, status=FAILED, error_code=exc.code, error_message=str(exc))
            s._log.write(s._clock(), "order_failed", client_order_id=coid, message=str(exc))
            report.status = "failed"
            report.errors[coid] = f"exchange configuration: {exc}"
            return f"halted: exchange configuration error ({exc})"
        except (RateLimitedError, TemporaryExchangeError) as exc:
            # nothing was placed (the adapter turns anything uncertain into UnknownOutcomeError)
            s._count("new_order", "rate_limited" if isinstance(exc, RateLimitedError) else "temporary")
            report.failed += 1
            s._order_metric(order.side, "failed")
            await s._db(s.ledger.update_order, coid, status=FAILED, error_code=exc.code, error_message=str(exc))
            s._log.write(s._clock(), "order_failed", client_order_id=coid, message=str(exc))
            report.status = "degraded"
            report.errors[coid] = str(exc)
            return f"stopped after exchange error: {exc}"
        self.last_result = result
        report.submitted += 1
        s._order_metric(order.side, "submitted")
        if result.executed_quantity <= 0:
            await s.recorder.apply_result(coid, result)
        report.filled += len(recorded)
        s._order_metric(order.side, result.status.value.lower())
        self.observe_shortfall(report, order, result, recorded)
        return None

    def observe_shortfall(
        self, report: CycleReport, order: PlannedOrder, result: OrderResult, recorded: list[RecordedFill]
    ) -> None:
        """The order's implementation shortfall against the price it was planned at, into the cycle's sum."""
        s = self.s
        fees = sum((r.fee_quote for r in recorded), ZERO)
        found = shortfall_of(order.side.value, order.price, result.executed_quantity, result.quote_quantity, fees)
        if found is None:
            return
        report.shortfall.add(found)
        s._metrics.execution_shortfall_bps.labels(side=order.side.value).observe(float(found.bps))
