"""The order planner: a pure function from holdings, prices, weights and rules to an order plan.

target = weight × (equity − cash buffer); deltas are taken at mark; sells come before buys; orders
are cut to the risk limits, capped in number (largest first), floored to the exchange's steps and
checked against its filters; buys never spend more than the cash above the cash buffer plus what
the sells free (so the buffer stays in cash even when a sale is dropped or cannot be made).
Everything dropped or cut is listed with a reason, so a run record explains itself.

Two kinds of holding are left alone: a kept asset (``keep_assets``: QT_EXECUTION_KEEP_ASSETS and
the assets that paid fees, BNB when fees are paid in BNB) is never sold nor bought and is not part
of the equity the weights share out; dust (below the exchange's minimum order, see dust.py) is
never planned as a sell, as it cannot be sold alone — the cycle lists it as dust instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from backend.exchanges.base import OrderSide, OrderType
from backend.exchanges.filters import filter_failure, floor_to_step, quantity_step, quantize_quantity
from backend.execution.dust import dust_reason
from backend.market.types import SymbolRules

ZERO = Decimal(0)
BPS = Decimal(10_000)
CLIENT_ID_MAX = 36  # Binance: ^[.A-Z:/a-z0-9_-]{1,36}$
BELOW_AFTER_STEP = "below QT_EXECUTION_MIN_NOTIONAL after flooring to the step size"


def client_order_id(cycle_id: str, symbol: str, side: OrderSide, prefix: str = "qt") -> str:
    """Deterministic per (installation prefix, cycle, symbol, side); short enough for Binance's 36
    characters (hashed, keeping the prefix, when too long). See backend/execution/installation.py."""
    raw = f"{prefix}-{cycle_id}-{symbol}-{side.value[0]}"
    if len(raw) <= CLIENT_ID_MAX:
        return raw
    return f"{prefix}-" + hashlib.sha256(raw.encode()).hexdigest()[: CLIENT_ID_MAX - len(prefix) - 1]


@dataclass(frozen=True, slots=True)
class PlanParams:
    min_notional: Decimal = Decimal(50)
    max_orders: int = 10
    cash_buffer: Decimal = ZERO
    allow_partial: bool = True
    max_notional_per_trade: Decimal | None = None  # the risk guard's per-trade limit
    max_position_per_symbol: Decimal | None = None  # the risk guard's per-symbol limit
    cost_margin_bps: Decimal = Decimal(60)  # fee + slippage reserved on buys, deducted from sells
    order_style: str = "market"  # QT_EXECUTION_ORDER_STYLE (backend/execution/styles.py)
    max_slippage_bps: Decimal = Decimal(25)  # QT_EXECUTION_MAX_SLIPPAGE_BPS, for limit_ioc
    keep_assets: frozenset[str] = frozenset()  # QT_EXECUTION_KEEP_ASSETS + fee assets: never traded
    maker_timeout_seconds: float = 60.0  # QT_EXECUTION_MAKER_TIMEOUT_SECONDS, for maker_first
    maker_reprices: int = 2  # QT_EXECUTION_MAKER_REPRICES, for maker_first
    slice_notional: Decimal = ZERO  # QT_EXECUTION_SLICE_NOTIONAL; 0: orders go whole
    slice_window_seconds: float = 1800.0  # slices are spread over this (the rebalance interval)


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal  # the mark the plan assumed
    client_order_id: str
    note: str | None = None  # why it was cut, when it was

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price


@dataclass(frozen=True, slots=True)
class SkippedOrder:
    symbol: str
    side: str
    notional: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class OrderPlan:
    equity: Decimal
    investable: Decimal
    cash: Decimal
    targets: dict[str, Decimal]
    orders: list[PlannedOrder] = field(default_factory=list)
    skipped: list[SkippedOrder] = field(default_factory=list)

    @property
    def sells(self) -> list[PlannedOrder]:
        return [o for o in self.orders if o.side is OrderSide.SELL]

    @property
    def buys(self) -> list[PlannedOrder]:
        return [o for o in self.orders if o.side is OrderSide.BUY]


@dataclass(slots=True)
class _Draft:
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    notes: list[str] = field(default_factory=list)

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price


def plan_orders(
    *,
    cycle_id: str,
    weights: dict[str, Decimal],
    positions: dict[str, Decimal],
    cash: Decimal,
    marks: dict[str, Decimal],
    rules: dict[str, SymbolRules],
    params: PlanParams,
    id_prefix: str = "qt",
    costs: dict[str, Decimal] | None = None,
    spendable: Decimal | None = None,
    sellable: dict[str, Decimal] | None = None,
    working: dict[str, str] | None = None,
) -> OrderPlan:
    """Plan market orders moving `positions` toward `weights` of the investable equity.

    `cash` and `positions` are the account's (the ledger's): the equity the weights share out.
    `spendable` and `sellable` (symbol -> quantity) are what may be spent and sold now (the
    exchange's free amounts: a resting order locks part of the account), by default all of it.
    `working` (symbol -> the client id of an order still working there): in the equity, but no
    order is planned on it (listed as skipped).
    `costs` (symbol -> the holding at the prices paid): the per-symbol limit is measured on the
    larger of that and the holding at the mark, as the risk guard measures it."""
    skipped: list[SkippedOrder] = []
    working = working or {}
    sellable = positions if sellable is None else sellable
    cash = max(cash, ZERO)
    equity = cash
    kept_symbols = {
        s for s in set(positions) | set(weights) if s in rules and rules[s].base_asset in params.keep_assets
    }
    for symbol, qty in positions.items():
        if symbol in kept_symbols:
            continue  # the account's, not the strategy's: not shared out by the weights
        mark = marks.get(symbol)
        if qty > 0 and mark is not None and mark > 0:
            equity += qty * mark
    investable = max(equity - params.cash_buffer, ZERO)
    targets = {s: w * investable for s, w in weights.items() if w > 0 and s not in kept_symbols}
    for symbol in sorted(kept_symbols & {s for s, w in weights.items() if w > 0}):
        reason = f"{rules[symbol].base_asset} is a kept asset (QT_EXECUTION_KEEP_ASSETS or a fee asset): never traded"
        skipped.append(SkippedOrder(symbol, "BUY", ZERO, reason))

    drafts: list[_Draft] = []
    for symbol in sorted(set(targets) | {s for s, q in positions.items() if q > 0 and s not in kept_symbols}):
        target = targets.get(symbol, ZERO)
        held = positions.get(symbol, ZERO)
        mark = marks.get(symbol)
        side = "SELL" if target == 0 else "?"
        if mark is None or mark <= 0:
            skipped.append(SkippedOrder(symbol, side, ZERO, "no mark price"))
            continue
        symbol_rules = rules.get(symbol)
        if symbol_rules is None:
            skipped.append(SkippedOrder(symbol, side, ZERO, "no exchange rules for symbol"))
            continue
        if not symbol_rules.is_trading:
            skipped.append(SkippedOrder(symbol, side, ZERO, f"symbol status {symbol_rules.status}"))
            continue
        delta = target - held * mark
        if symbol in working:
            if abs(delta) >= params.min_notional:
                reason = f"order {working[symbol]} is still working on this symbol"
                skipped.append(SkippedOrder(symbol, "BUY" if delta > 0 else "SELL", abs(delta), reason))
            continue
        if delta < 0 and dust_reason(symbol_rules, held, mark) is not None:
            continue  # dust: the exchange would refuse any sell of it; the cycle lists it as dust
        if delta < 0:
            qty = -delta / mark
            draft = _Draft(symbol, OrderSide.SELL, qty, mark)
            if target == 0:
                draft.quantity = held
                draft.notes.append("not selected: full exit")
            elif not params.allow_partial:
                # the minimum-notional test applies to the excess: an excess too small to trade
                # leaves the position alone; only a real reduction becomes a full exit
                if draft.notional < params.min_notional:
                    skipped.append(
                        SkippedOrder(symbol, "SELL", draft.notional, "excess below QT_EXECUTION_MIN_NOTIONAL")
                    )
                    continue
                draft.quantity = held
                draft.notes.append("QT_EXECUTION_ALLOW_PARTIAL=false: full exit")
            drafts.append(draft)
        elif delta > 0:
            drafts.append(_Draft(symbol, OrderSide.BUY, delta / mark, mark))

    # the risk guard's limits: cut rather than refuse, so a rebalance converges over cycles
    kept: list[_Draft] = []
    for d in drafts:
        held_value = max(positions.get(d.symbol, ZERO) * d.price, (costs or {}).get(d.symbol, ZERO))
        if d.side is OrderSide.BUY and params.max_position_per_symbol is not None:
            room = params.max_position_per_symbol - held_value
            if room < d.notional:
                if room <= 0:
                    skipped.append(
                        SkippedOrder(d.symbol, d.side.value, d.notional, "QT_MAX_POSITION_PER_SYMBOL reached")
                    )
                    continue
                d.quantity = room / d.price
                d.notes.append("cut to QT_MAX_POSITION_PER_SYMBOL")
        limit = params.max_notional_per_trade
        if limit is not None and d.notional > limit:
            d.quantity = limit / d.price
            d.notes.append("cut to QT_MAX_NOTIONAL_PER_TRADE")
        kept.append(d)

    actionable: list[_Draft] = []
    for d in kept:
        if d.notional < params.min_notional:
            skipped.append(SkippedOrder(d.symbol, d.side.value, d.notional, "below QT_EXECUTION_MIN_NOTIONAL"))
        else:
            actionable.append(d)
    actionable.sort(key=lambda d: (-d.notional, d.symbol))
    for d in actionable[params.max_orders :]:
        skipped.append(SkippedOrder(d.symbol, d.side.value, d.notional, "beyond QT_EXECUTION_MAX_ORDERS"))
    actionable = actionable[: params.max_orders]

    margin = params.cost_margin_bps / BPS
    orders: list[PlannedOrder] = []
    # buys never spend the buffer: only the cash above it, plus what the sells free (which refill
    # a buffer the cash does not cover first), whether or not every planned sale happens
    available = (cash if spendable is None else max(spendable, ZERO)) - params.cash_buffer
    cut_note, short_reason = cash_limit_texts(params.cash_buffer, "cut to available cash", "insufficient cash")
    sells = [d for d in actionable if d.side is OrderSide.SELL]
    buys = [d for d in actionable if d.side is OrderSide.BUY]
    for d in sells:
        r = rules[d.symbol]
        held = sellable.get(d.symbol, ZERO)
        qty = quantize_quantity(r, min(d.quantity, held), OrderType.MARKET)
        if qty * d.price < params.min_notional:
            skipped.append(SkippedOrder(d.symbol, d.side.value, qty * d.price, BELOW_AFTER_STEP))
            continue
        failure = filter_failure(r, qty, d.price, OrderType.MARKET)
        if failure:
            skipped.append(SkippedOrder(d.symbol, d.side.value, qty * d.price, f"exchange filter {failure}"))
            continue
        available += qty * d.price * (1 - margin)
        orders.append(_planned(cycle_id, d, qty, id_prefix))
    for d in buys:
        r = rules[d.symbol]
        qty = quantize_quantity(r, d.quantity, OrderType.MARKET)
        cost_per_unit = d.price * (1 + margin)
        if qty * cost_per_unit > available:
            qty = floor_to_step(max(available, ZERO) / cost_per_unit, quantity_step(r, OrderType.MARKET))
            d.notes.append(cut_note)
            if qty * d.price < params.min_notional:
                skipped.append(SkippedOrder(d.symbol, d.side.value, d.notional, short_reason))
                continue
        if qty * d.price < params.min_notional:
            skipped.append(SkippedOrder(d.symbol, d.side.value, qty * d.price, BELOW_AFTER_STEP))
            continue
        failure = filter_failure(r, qty, d.price, OrderType.MARKET)
        if failure:
            skipped.append(SkippedOrder(d.symbol, d.side.value, qty * d.price, f"exchange filter {failure}"))
            continue
        available -= qty * cost_per_unit
        orders.append(_planned(cycle_id, d, qty, id_prefix))
    return OrderPlan(equity=equity, investable=investable, cash=cash, targets=targets, orders=orders, skipped=skipped)


def cash_limit_texts(buffer: Decimal, cut: str, short: str) -> tuple[str, str]:
    """The note of a buy cut to the cash it may spend and the reason of one skipped for it, naming
    QT_EXECUTION_CASH_BUFFER when a buffer is held back."""
    if buffer <= 0:
        return cut, short
    above = f" above QT_EXECUTION_CASH_BUFFER ({buffer})"
    return cut + above, short + above


def _planned(cycle_id: str, d: _Draft, qty: Decimal, id_prefix: str) -> PlannedOrder:
    return PlannedOrder(
        symbol=d.symbol,
        side=d.side,
        quantity=qty,
        price=d.price,
        client_order_id=client_order_id(cycle_id, d.symbol, d.side, id_prefix),
        note="; ".join(d.notes) or None,
    )
