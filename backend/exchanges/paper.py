"""The paper exchange: Binance-like spot account simulated in the database.

Balances, orders and trades live in their own tables (paper_balances, paper_orders, paper_trades),
so the account survives restarts. Market orders walk the live book depth of the configured market
source up to a slippage cap (an order the capped book cannot fill completely is EXPIRED with what
did fill, as Binance does for market orders without enough liquidity). LIMIT IOC takes what the
book offers up to its price and expires the rest; LIMIT GTC takes what crosses and rests the rest;
LIMIT_MAKER rests whole or is refused (-2010 "Order would immediately match and take.") when it
would cross. Resting orders fill later against the book and the bars that follow, at the maker fee
(see `paper_resting`). Fees are charged as Binance charges them without BNB: in the asset received
(base on buys, quote on sells). Rejections use Binance's codes: -1013 "Filter failure: NAME"
(PRICE_FILTER, LOT_SIZE, NOTIONAL, PERCENT_PRICE_BY_SIDE against the book's mid), -2010 insufficient
balance, duplicate client id or a crossing LIMIT_MAKER, -1121 unknown symbol, -1102 no price.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
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
from backend.exchanges.filters import filter_failure, percent_price_failure
from backend.exchanges.paper_book import Match, covered, walk_book, walk_book_quote, would_take
from backend.exchanges.paper_resting import RestingBook, fill_of, order_result
from backend.exchanges.paper_sql import (
    INS_ORDER,
    INS_TRADES,
    SEL_ALL_BALANCES,
    SEL_PAIR_BALANCES,
    UPD_BALANCE,
    insert_or_add,
)
from backend.market.types import Kline, OrderBook, SymbolRules
from database.models.execution import PaperBalance, PaperOrder, PaperTrade
from database.session import connection_scope

ZERO = Decimal(0)
BPS = Decimal(10_000)
FEE_QUANTUM = Decimal("0.00000001")
BOOK_LIMIT = 100  # the depth an order may walk
SHALLOW_BOOK = 20  # asked first: an order its levels cover walks no further (paper_book.covered)

BookFn = Callable[[str, int], Awaitable[OrderBook]]
RulesFn = Callable[[], Awaitable[dict[str, SymbolRules]]]
# the closed bars of a symbol between two times (resting orders fill when a bar trades through them)
BarsFn = Callable[[str, datetime, datetime], Awaitable[Sequence[Kline]]]


@dataclass(frozen=True, slots=True)
class PaperConfig:
    quote_asset: str = "USDT"
    starting_cash: Decimal = Decimal(10_000)
    fee_bps: Decimal = Decimal(10)  # taker
    max_slippage_bps: Decimal = Decimal(50)
    maker_fee_bps: Decimal = Decimal(10)
    fill_volume_share: Decimal = Decimal("0.1")  # of a bar's volume that may fill a resting order
    order_ttl_seconds: float = 0.0  # a resting order expires after this long; 0: never


class PaperExchange:
    """Implements `Exchange` and `RestingOrders` (backend.exchanges.base) against database tables."""

    name = "paper"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        book: BookFn,
        rules: RulesFn,
        config: Callable[[], PaperConfig],
        clock: Callable[[], datetime],
        bars: BarsFn | None = None,
    ) -> None:
        self._sessions = sessions
        self._book = book
        self._rules = rules
        self._config = config
        self._clock = clock
        self._bars = bars
        self._opened = False
        self._resting = RestingBook(
            sessions,
            maker_fee_bps=lambda: config().maker_fee_bps,
            volume_share=lambda: config().fill_volume_share,
            ttl_seconds=lambda: config().order_ttl_seconds,
            clock=clock,
        )
        # resting orders may exist (unknown until the first sweep; a restart starts unknown)
        self._may_rest = True
        self._placed = 0  # resting orders placed by this instance (guards the flag against a race)

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
        await self.sweep()
        return await asyncio.to_thread(self._account)

    def _account(self) -> AccountSnapshot:
        self.open_account()
        with connection_scope(self._sessions) as conn:
            balances = {b.asset: Balance(b.asset, b.free, b.locked) for b in conn.execute(SEL_ALL_BALANCES)}
        cfg = self._config()
        return AccountSnapshot(
            balances=balances, taken_at=self._clock(), fees_bps={"taker": cfg.fee_bps, "maker": cfg.maker_fee_bps}
        )

    # resting orders ---------------------------------------------------------------------------
    async def sweep(self, symbols: Iterable[str] | None = None) -> int:
        """Match open orders (of these symbols, or all) against the market now; orders changed."""
        if not self._may_rest:
            return 0
        placed = self._placed
        open_symbols = await asyncio.to_thread(self._resting.open_symbols)
        if not open_symbols:
            if placed == self._placed:
                self._may_rest = False
            return 0
        wanted = set(open_symbols) if symbols is None else set(open_symbols) & set(symbols)
        if not wanted:
            return 0
        all_rules = await self._rules()
        now = self._clock()
        changed = 0
        for symbol in sorted(wanted):
            book = await self._book(symbol, BOOK_LIMIT)
            bars: Sequence[Kline] = ()
            if self._bars is not None:
                bars = await self._bars(symbol, open_symbols[symbol], now)
            changed += await asyncio.to_thread(self._resting.match, symbol, book, bars, all_rules.get(symbol))
        return changed

    async def open_orders(self, symbol: str | None = None) -> list[OrderResult]:
        await self.sweep(None if symbol is None else [symbol])
        return await asyncio.to_thread(self._resting.open, symbol)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        await self.sweep([symbol])
        rules = (await self._rules()).get(symbol)
        return await asyncio.to_thread(self._resting.cancel, symbol, client_order_id, rules)

    # orders -----------------------------------------------------------------------------------
    async def submit_order(self, request: OrderRequest) -> OrderResult:
        kind, tif = request.order_type, request.time_in_force
        if kind is OrderType.LIMIT and tif not in (None, "GTC", "IOC"):
            raise OrderRejectedError("Unsupported order combination", code=-1014)
        if kind is not OrderType.MARKET and (request.price is None or request.quote_quantity is not None):
            raise OrderRejectedError(
                "Mandatory parameter 'price' was not sent, was empty/null, or malformed.", code=-1102
            )
        rules = (await self._rules()).get(request.symbol)
        if rules is None:
            raise OrderRejectedError("Invalid symbol.", code=-1121)
        if not rules.is_trading:
            raise OrderRejectedError("Market is closed.", code=-1013)
        await self.sweep([request.symbol])  # earlier orders fill first (and their locks move)
        book = await self._book(request.symbol, SHALLOW_BOOK)
        if not covered(request, book, SHALLOW_BOOK):
            book = await self._book(request.symbol, BOOK_LIMIT)
        if not self._opened:
            await asyncio.to_thread(self.open_account)
        return await asyncio.to_thread(self._execute, request, rules, book)

    def _execute(self, request: OrderRequest, rules: SymbolRules, book: OrderBook) -> OrderResult:
        cfg = self._config()
        buy = request.side is OrderSide.BUY
        kind = request.order_type
        rests = kind is OrderType.LIMIT_MAKER or (kind is OrderType.LIMIT and request.time_in_force != "IOC")
        levels = book.asks if buy else book.bids
        if not levels and not rests:
            raise OrderRejectedError("Market has insufficient liquidity.", code=-2010)
        mid = (book.bids[0].price + book.asks[0].price) / 2 if book.bids and book.asks else None
        check_price = request.reference_price or mid or (levels[0].price if levels else ZERO)
        matches: list[Match] = []
        spent = False
        by_quote = buy and request.quote_quantity is not None
        wanted = request.quantity
        if kind is OrderType.MARKET or kind is OrderType.LIMIT:
            slip = cfg.max_slippage_bps / BPS
            best = levels[0].price if levels else ZERO
            limit = best * (1 + slip) if buy else best * (1 - slip)
            if request.price is not None:
                # LIMIT: never past its price (nor past the paper slippage cap)
                limit = min(limit, request.price) if buy else max(limit, request.price)
            if by_quote:
                # Binance quoteOrderQty: spend at most this amount; the quantity follows from the book
                step = rules.market_step_size if rules.market_step_size > 0 else rules.step_size
                matches, spent = walk_book_quote(levels, request.quote_quantity or ZERO, limit_price=limit, step=step)
                wanted = sum((m.quantity for m in matches), ZERO)
            elif levels:
                matches = walk_book(levels, request.quantity, limit_price=limit, buy=buy)
        if request.price is not None:
            check_price = request.price
        failure = filter_failure(rules, wanted, check_price, kind)
        if failure is None and request.price is not None and mid is not None:
            failure = percent_price_failure(rules, request.side, request.price, mid)
        if failure:
            raise OrderRejectedError(f"Filter failure: {failure}", code=-1013)
        maker_only = kind is OrderType.LIMIT_MAKER and request.price is not None
        if maker_only and would_take(request.side, request.price or ZERO, book):
            raise OrderRejectedError("Order would immediately match and take.", code=-2010)
        executed = sum((m.quantity for m in matches), ZERO)
        rest = request.quantity - executed if rests else ZERO
        if rests:
            status = OrderStatus.FILLED if rest <= 0 else OrderStatus.PARTIALLY_FILLED if executed else OrderStatus.NEW
        elif by_quote:
            status = OrderStatus.FILLED if spent else OrderStatus.EXPIRED
        else:
            status = OrderStatus.FILLED if executed == request.quantity else OrderStatus.EXPIRED
        return self._book_order(request, rules, matches, rest, status, cfg.fee_bps)

    def _book_order(
        self,
        request: OrderRequest,
        rules: SymbolRules,
        matches: list[Match],
        rest: Decimal,
        status: OrderStatus,
        fee_bps: Decimal,
    ) -> OrderResult:
        """Write the order, its taker trades and the balance moves in one transaction."""
        buy = request.side is OrderSide.BUY
        rate = fee_bps / BPS
        now = self._clock()
        base, quote = rules.base_asset, rules.quote_asset
        executed = sum((m.quantity for m in matches), ZERO)
        cost = sum((m.price * m.quantity for m in matches), ZERO)
        lock = rest * (request.price or ZERO) if buy else rest  # what the resting rest may still spend
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
        pay_asset, recv_asset = (quote, base) if buy else (base, quote)
        try:
            # prepared Core statements: this runs once per order on the trading path
            with connection_scope(self._sessions, write=True) as conn:
                held = {
                    row.asset: (row.free, row.locked)
                    for row in conn.execute(SEL_PAIR_BALANCES, {"x_asset_1": base, "x_asset_2": quote})
                }
                free_pay = held.get(pay_asset, (ZERO, ZERO))[0]
                if free_pay < (cost + lock if buy else request.quantity):
                    raise OrderRejectedError("Account has insufficient balance for requested action.", code=-2010)
                # a reused client order id fails on the unique constraint (IntegrityError below)
                order_id = conn.execute(
                    INS_ORDER,
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
                        "price": request.price,
                        "time_in_force": request.time_in_force
                        or ("GTC" if request.order_type is not OrderType.MARKET else None),
                        "updated_at": now,
                        "matched_until": now,
                    },
                ).scalar_one()
                trade_ids: list[int] = []
                if trade_rows:
                    for row in trade_rows:
                        row["order_id"] = order_id
                    trade_ids = list(conn.execute(INS_TRADES, trade_rows).scalars())
                moves = (
                    (pay_asset, -((cost if buy else executed) + lock), lock),
                    (recv_asset, received, ZERO),
                )
                changed = [(a, f, lk) for a, f, lk in moves if f != 0 or lk != 0]
                updates = [
                    {"x_asset": asset, "v_free": held[asset][0] + free_delta, "v_locked": held[asset][1] + locked_delta}
                    for asset, free_delta, locked_delta in changed
                    if asset in held
                ]
                if updates:  # both held balances in one statement
                    conn.execute(UPD_BALANCE, updates)
                for asset, free_delta, locked_delta in changed:
                    if asset not in held:
                        insert_or_add(conn, asset, free_delta, locked_delta)
        except IntegrityError as exc:  # this client order id was used before
            raise OrderRejectedError("Duplicate order sent.", code=-2010) from exc
        if status.is_open:
            self._placed += 1
            self._may_rest = True
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
            price=request.price,
            order_type=request.order_type,
        )

    async def query_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        await self.sweep([symbol])
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
            return order_result(order, trades)

    async def orders(self, symbol: str, since: datetime | None = None) -> list[OrderResult]:
        await self.sweep([symbol])
        return await asyncio.to_thread(self._orders, symbol, since)

    def _orders(self, symbol: str, since: datetime | None) -> list[OrderResult]:
        with self._sessions() as session:
            query = select(PaperOrder).where(PaperOrder.symbol == symbol)
            if since is not None:
                query = query.where(PaperOrder.created_at >= since)
            return [order_result(o) for o in session.scalars(query.order_by(PaperOrder.id))]

    async def trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        await self.sweep([symbol])
        return await asyncio.to_thread(self._trades, symbol, since)

    def _trades(self, symbol: str, since: datetime | None) -> list[Fill]:
        with self._sessions() as session:
            query = select(PaperTrade).where(PaperTrade.symbol == symbol)
            if since is not None:
                query = query.where(PaperTrade.time >= since)
            return [fill_of(t) for t in session.scalars(query.order_by(PaperTrade.id))]

    async def close(self) -> None:
        return None
