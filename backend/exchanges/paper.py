"""The paper exchange: Binance-like spot account simulated in the database.

Balances, orders and trades live in their own tables (paper_balances, paper_orders, paper_trades),
so the account survives restarts. Market orders walk the live book depth of the configured market
source up to a slippage cap (an order the capped book cannot fill completely is EXPIRED with what
did fill, as Binance does for market orders without enough liquidity). The taker fee is charged as
Binance charges it without BNB: in the asset received (base on buys, quote on sells). Rejections use
Binance's codes: -1013 "Filter failure: NAME", -2010 insufficient balance or duplicate client id,
-1121 unknown symbol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import (
    AccountSnapshot,
    Balance,
    Fill,
    OrderRequest,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
)
from backend.exchanges.errors import OrderRejectedError
from backend.exchanges.filters import filter_failure
from backend.market.types import BookLevel, OrderBook, SymbolRules
from database.models.execution import PaperBalance, PaperOrder, PaperTrade

ZERO = Decimal(0)
BPS = Decimal(10_000)
FEE_QUANTUM = Decimal("0.00000001")
BOOK_LIMIT = 100

BookFn = Callable[[str, int], Awaitable[OrderBook]]
RulesFn = Callable[[], Awaitable[dict[str, SymbolRules]]]


# Prepared statements of the order path (built once; executed with parameters).
_BALANCES = cast(Table, PaperBalance.__table__)
_ORDERS = cast(Table, PaperOrder.__table__)
_TRADES = cast(Table, PaperTrade.__table__)
_SEL_BALANCES = select(_BALANCES.c.asset, _BALANCES.c.free).where(
    _BALANCES.c.asset.in_(bindparam("x_assets", expanding=True))
)
_SEL_ALL_BALANCES = select(_BALANCES.c.asset, _BALANCES.c.free, _BALANCES.c.locked)
_UPD_BALANCE = (
    update(_BALANCES)
    .where(_BALANCES.c.asset == bindparam("x_asset"))
    .values(free=bindparam("v_free", type_=_BALANCES.c.free.type))
)
_INS_BALANCE = insert(_BALANCES)
_INS_ORDER = insert(_ORDERS).returning(_ORDERS.c.id)
_INS_TRADES = insert(_TRADES).returning(_TRADES.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True, slots=True)
class PaperConfig:
    quote_asset: str = "USDT"
    starting_cash: Decimal = Decimal(10_000)
    fee_bps: Decimal = Decimal(10)
    max_slippage_bps: Decimal = Decimal(50)


@dataclass(frozen=True, slots=True)
class _Match:
    price: Decimal
    quantity: Decimal


def walk_book(levels: tuple[BookLevel, ...], quantity: Decimal, *, limit_price: Decimal, buy: bool) -> list[_Match]:
    """Take liquidity best-first until `quantity` is done or the next level is past `limit_price`."""
    matches: list[_Match] = []
    remaining = quantity
    for level in levels:
        if remaining <= 0:
            break
        if (buy and level.price > limit_price) or (not buy and level.price < limit_price):
            break
        take = min(level.qty, remaining)
        if take > 0:
            matches.append(_Match(level.price, take))
            remaining -= take
    return matches


def walk_book_quote(
    levels: tuple[BookLevel, ...], quote: Decimal, *, limit_price: Decimal, step: Decimal
) -> tuple[list[_Match], bool]:
    """Spend at most `quote` best-first (a buy by quote amount), quantities floored to `step`;
    returns the matches and whether the amount was spent (False: the book or the cap ran out)."""
    matches: list[_Match] = []
    remaining = quote
    for level in levels:
        if level.price > limit_price:
            return matches, False
        affordable = remaining / level.price
        take = min(level.qty, affordable)
        if step > 0:
            take = (take / step).to_integral_value(rounding=ROUND_DOWN) * step
        if take > 0:
            matches.append(_Match(level.price, take))
            remaining -= take * level.price
        if take < level.qty:  # this level could pay for more than the amount left: done
            return matches, True
    return matches, False


class PaperExchange:
    """Implements `backend.exchanges.base.Exchange` against database tables."""

    name = "paper"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        book: BookFn,
        rules: RulesFn,
        config: Callable[[], PaperConfig],
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._book = book
        self._rules = rules
        self._config = config
        self._clock = clock
        self._opened = False

    # account ----------------------------------------------------------------------------------
    def open_account(self) -> bool:
        """Fund the account with QT_PAPER_STARTING_CASH on first use; True when it did."""
        if self._opened:
            return False
        cfg = self._config()
        with self._sessions.begin() as session:
            opened = session.scalar(select(PaperBalance).limit(1)) is None
            if opened:
                session.add(PaperBalance(asset=cfg.quote_asset, free=cfg.starting_cash, locked=ZERO))
        self._opened = True
        return opened

    async def account(self) -> AccountSnapshot:
        return await asyncio.to_thread(self._account)

    def _account(self) -> AccountSnapshot:
        self.open_account()
        with self._sessions() as session:
            rows = session.connection().execute(_SEL_ALL_BALANCES)
            balances = {b.asset: Balance(b.asset, b.free, b.locked) for b in rows}
        fee = self._config().fee_bps
        return AccountSnapshot(balances=balances, taken_at=self._clock(), fees_bps={"taker": fee, "maker": fee})

    # orders -----------------------------------------------------------------------------------
    async def submit_order(self, request: OrderRequest) -> OrderResult:
        limit_ioc = request.order_type is OrderType.LIMIT and request.time_in_force == "IOC"
        if request.order_type is not OrderType.MARKET and not limit_ioc:
            raise OrderRejectedError("Unsupported order combination", code=-1014)
        if limit_ioc and (request.price is None or request.quote_quantity is not None):
            raise OrderRejectedError(
                "Mandatory parameter 'price' was not sent, was empty/null, or malformed.", code=-1102
            )
        rules = (await self._rules()).get(request.symbol)
        if rules is None:
            raise OrderRejectedError("Invalid symbol.", code=-1121)
        if not rules.is_trading:
            raise OrderRejectedError("Market is closed.", code=-1013)
        book = await self._book(request.symbol, BOOK_LIMIT)
        if not self._opened:
            await asyncio.to_thread(self.open_account)
        return await asyncio.to_thread(self._execute, request, rules, book)

    def _execute(self, request: OrderRequest, rules: SymbolRules, book: OrderBook) -> OrderResult:
        cfg = self._config()
        buy = request.side is OrderSide.BUY
        levels = book.asks if buy else book.bids
        if not levels:
            raise OrderRejectedError("Market has insufficient liquidity.", code=-2010)
        best = levels[0].price
        check_price = request.reference_price or (
            (book.bids[0].price + book.asks[0].price) / 2 if book.bids and book.asks else best
        )
        slip = cfg.max_slippage_bps / BPS
        limit = best * (1 + slip) if buy else best * (1 - slip)
        if request.order_type is OrderType.LIMIT and request.price is not None:
            # LIMIT IOC: never past its price (nor past the paper slippage cap); the rest expires
            limit = min(limit, request.price) if buy else max(limit, request.price)
            check_price = request.price
        by_quote = buy and request.quote_quantity is not None
        if by_quote:
            # Binance quoteOrderQty: spend at most this amount; the quantity follows from the book
            step = rules.market_step_size if rules.market_step_size > 0 else rules.step_size
            matches, spent = walk_book_quote(levels, request.quote_quantity or ZERO, limit_price=limit, step=step)
            wanted = sum((m.quantity for m in matches), ZERO)
        else:
            matches = walk_book(levels, request.quantity, limit_price=limit, buy=buy)
            wanted = request.quantity
        failure = filter_failure(rules, wanted, check_price, request.order_type)
        if failure:
            raise OrderRejectedError(f"Filter failure: {failure}", code=-1013)
        rate = cfg.fee_bps / BPS
        now = self._clock()
        base, quote = rules.base_asset, rules.quote_asset
        executed = sum((m.quantity for m in matches), ZERO)
        cost = sum((m.price * m.quantity for m in matches), ZERO)
        fee_asset = base if buy else quote
        trade_rows: list[dict[str, object]] = []
        received = ZERO
        for m in matches:
            gross = m.quantity if buy else m.price * m.quantity
            fee = (gross * rate).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)
            received += gross - fee
            trade_rows.append(
                {
                    "symbol": request.symbol,
                    "side": request.side.value,
                    "price": m.price,
                    "quantity": m.quantity,
                    "fee": fee,
                    "fee_asset": fee_asset,
                    "time": now,
                }
            )
        if by_quote:
            status = OrderStatus.FILLED if spent else OrderStatus.EXPIRED
        else:
            status = OrderStatus.FILLED if executed == request.quantity else OrderStatus.EXPIRED
        pay_asset, recv_asset = (quote, base) if buy else (base, quote)
        try:
            # prepared Core statements: this runs once per order on the trading path
            with self._sessions.begin() as session:
                conn = session.connection()
                held = {row.asset: row.free for row in conn.execute(_SEL_BALANCES, {"x_assets": [base, quote]})}
                if held.get(pay_asset, ZERO) < (cost if buy else request.quantity):
                    raise OrderRejectedError("Account has insufficient balance for requested action.", code=-2010)
                # a reused client order id fails on the unique constraint (IntegrityError below)
                order_id = conn.execute(
                    _INS_ORDER,
                    {
                        "client_order_id": request.client_order_id,
                        "symbol": request.symbol,
                        "side": request.side.value,
                        "order_type": request.order_type.value,
                        "status": status.value,
                        "requested_quantity": request.quantity,
                        "executed_quantity": executed,
                        "quote_quantity": cost,
                        "created_at": now,
                    },
                ).scalar_one()
                trade_ids: list[int] = []
                if trade_rows:
                    for row in trade_rows:
                        row["order_id"] = order_id
                    trade_ids = list(conn.execute(_INS_TRADES, trade_rows).scalars())
                for asset, delta in ((pay_asset, -(cost if buy else executed)), (recv_asset, received)):
                    if delta == 0:
                        continue
                    if asset in held:
                        conn.execute(_UPD_BALANCE, {"x_asset": asset, "v_free": held[asset] + delta})
                    else:
                        conn.execute(_INS_BALANCE, {"asset": asset, "free": delta, "locked": ZERO})
        except IntegrityError as exc:  # this client order id was used before
            raise OrderRejectedError("Duplicate order sent.", code=-2010) from exc
        fills = tuple(
            Fill(
                trade_id=f"P{trade_id}",
                symbol=request.symbol,
                side=request.side,
                price=row["price"],  # type: ignore[arg-type]
                quantity=row["quantity"],  # type: ignore[arg-type]
                fee=row["fee"],  # type: ignore[arg-type]
                fee_asset=fee_asset,
                time=now,
                order_id=str(order_id),
            )
            for trade_id, row in zip(trade_ids, trade_rows, strict=True)
        )
        return OrderResult(
            symbol=request.symbol,
            client_order_id=request.client_order_id,
            exchange_order_id=str(order_id),
            status=status,
            side=request.side,
            requested_quantity=request.quantity,
            executed_quantity=executed,
            quote_quantity=cost,
            fills=fills,
            time=now,
        )

    @staticmethod
    def _fill(trade: PaperTrade) -> Fill:
        return Fill(
            trade_id=f"P{trade.id}",
            symbol=trade.symbol,
            side=OrderSide(trade.side),
            price=trade.price,
            quantity=trade.quantity,
            fee=trade.fee,
            fee_asset=trade.fee_asset,
            time=trade.time,
            order_id=str(trade.order_id),
        )

    def _result(self, order: PaperOrder, trades: list[PaperTrade]) -> OrderResult:
        return OrderResult(
            symbol=order.symbol,
            client_order_id=order.client_order_id,
            exchange_order_id=str(order.id),
            status=OrderStatus(order.status),
            side=OrderSide(order.side),
            requested_quantity=order.requested_quantity,
            executed_quantity=order.executed_quantity,
            quote_quantity=order.quote_quantity,
            fills=tuple(self._fill(t) for t in trades),
            time=order.created_at,
        )

    async def query_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        return await asyncio.to_thread(self._query, symbol, client_order_id)

    def _query(self, symbol: str, client_order_id: str) -> OrderResult | None:
        with self._sessions() as session:
            order = session.scalar(
                select(PaperOrder).where(PaperOrder.client_order_id == client_order_id, PaperOrder.symbol == symbol)
            )
            if order is None:
                return None
            trades = list(
                session.scalars(select(PaperTrade).where(PaperTrade.order_id == order.id).order_by(PaperTrade.id))
            )
            return self._result(order, trades)

    async def orders(self, symbol: str, since: datetime | None = None) -> list[OrderResult]:
        return await asyncio.to_thread(self._orders, symbol, since)

    def _orders(self, symbol: str, since: datetime | None) -> list[OrderResult]:
        with self._sessions() as session:
            query = select(PaperOrder).where(PaperOrder.symbol == symbol)
            if since is not None:
                query = query.where(PaperOrder.created_at >= since)
            return [self._result(o, []) for o in session.scalars(query.order_by(PaperOrder.id))]

    async def trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        return await asyncio.to_thread(self._trades, symbol, since)

    def _trades(self, symbol: str, since: datetime | None) -> list[Fill]:
        with self._sessions() as session:
            query = select(PaperTrade).where(PaperTrade.symbol == symbol)
            if since is not None:
                query = query.where(PaperTrade.time >= since)
            return [self._fill(t) for t in session.scalars(query.order_by(PaperTrade.id))]

    async def close(self) -> None:
        return None
