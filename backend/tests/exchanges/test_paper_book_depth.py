"""The paper exchange asks a shallow book first and a deep one only when an order may walk past it:
the fills are those of walking the deep book, whatever the order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import OrderRequest, OrderSide, OrderStatus, OrderType
from backend.exchanges.paper import BOOK_LIMIT, SHALLOW_BOOK, PaperConfig, PaperExchange
from backend.exchanges.paper_book import covered, walk_book, walk_book_quote
from backend.market.sources.simulated import SimulatedMarket
from backend.market.types import BookLevel, OrderBook
from backend.tests.execution.fakes import FakeMarket
from database.session import make_engine, make_session_factory

D = Decimal
T0 = datetime(2026, 11, 25, tzinfo=UTC)
STEP = D("0.001")


def _book(depth: int, quantities: list[int], bid: int, ask: int) -> OrderBook:
    """A book of ``depth`` levels a side, one price unit apart, sizes taken in turn from ``quantities``."""
    sizes = [D(q) / 100 for q in quantities] or [D(1)]
    bids = tuple(BookLevel(D(bid - k), sizes[k % len(sizes)]) for k in range(depth) if bid - k > 0)
    asks = tuple(BookLevel(D(ask + k), sizes[(k + 3) % len(sizes)]) for k in range(depth))
    return OrderBook(symbol="ETHUSDT", bids=bids, asks=asks, time=T0)


def _top(book: OrderBook, limit: int) -> OrderBook:
    return OrderBook(symbol=book.symbol, bids=book.bids[:limit], asks=book.asks[:limit], time=book.time)


def _walk(request: OrderRequest, book: OrderBook, limit_price: Decimal) -> object:
    """What PaperExchange._execute takes from the book (a LIMIT_MAKER takes nothing)."""
    if request.order_type not in (OrderType.MARKET, OrderType.LIMIT):
        return []
    buy = request.side is OrderSide.BUY
    levels = book.asks if buy else book.bids
    if buy and request.quote_quantity is not None:
        return walk_book_quote(levels, request.quote_quantity, limit_price=limit_price, step=STEP)
    return walk_book(levels, request.quantity, limit_price=limit_price, buy=buy)


@settings(max_examples=400, deadline=None)
@given(
    depth=st.integers(1, 60),
    quantities=st.lists(st.integers(0, 500), min_size=1, max_size=7),
    side=st.sampled_from(list(OrderSide)),
    kind=st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.LIMIT_MAKER]),
    amount=st.integers(1, 20_000),
    by_quote=st.booleans(),
    cap=st.integers(0, 70),
)
def test_a_covered_order_walks_the_shallow_book_as_it_walks_the_deep_one(
    depth: int,
    quantities: list[int],
    side: OrderSide,
    kind: OrderType,
    amount: int,
    by_quote: bool,
    cap: int,
) -> None:
    deep = _book(depth, quantities, bid=1000, ask=1001)
    shallow = _top(deep, SHALLOW_BOOK)
    quote = D(amount) if by_quote and side is OrderSide.BUY else None
    request = OrderRequest("ETHUSDT", side, D(amount) / 100, "c1", order_type=kind, quote_quantity=quote)
    limit_price = D(1001 + cap) if side is OrderSide.BUY else D(1000 - cap)
    if covered(request, shallow, SHALLOW_BOOK):
        assert _walk(request, shallow, limit_price) == _walk(request, deep, limit_price)
    else:  # only a book cut at the limit, with an order its inner levels do not cover, is not
        assert len(shallow.asks if side is OrderSide.BUY else shallow.bids) == SHALLOW_BOOK


def test_a_book_with_more_or_fewer_levels_than_asked_is_the_whole_book() -> None:
    big = OrderRequest("ETHUSDT", OrderSide.BUY, D(10_000), "c1")
    assert covered(big, _book(SHALLOW_BOOK - 1, [100], 1000, 1001), SHALLOW_BOOK)  # all there is
    assert covered(big, _book(SHALLOW_BOOK + 5, [100], 1000, 1001), SHALLOW_BOOK)  # a recorded book
    assert not covered(big, _book(SHALLOW_BOOK, [100], 1000, 1001), SHALLOW_BOOK)


def test_an_amount_the_shallow_book_pays_for_exactly_needs_the_deep_one() -> None:
    deep = _book(40, [100], bid=1000, ask=1001)  # one base a level
    shallow = _top(deep, SHALLOW_BOOK)
    exact = sum((level.price * level.qty for level in shallow.asks), D(0))
    request = OrderRequest("ETHUSDT", OrderSide.BUY, D(1), "c1", quote_quantity=exact)
    cap = D(2000)
    # the shallow walk runs out exactly and cannot tell "spent" from "book ran out"
    assert _walk(request, shallow, cap) != _walk(request, deep, cap)
    assert not covered(request, shallow, SHALLOW_BOOK)
    assert covered(OrderRequest("ETHUSDT", OrderSide.BUY, D(1), "c1", quote_quantity=exact - 1), shallow, SHALLOW_BOOK)


class _Counting(FakeMarket):
    asked: list[int]

    async def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        self.asked.append(limit)
        return await super().order_book(symbol, limit)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


async def test_an_order_past_the_shallow_book_fills_from_the_deep_one(sessions: sessionmaker[Session]) -> None:
    market = _Counting({"ETHUSDT": D(1000)}, depth=D(1), spread_bps=D(0), level_bps=D(1), levels=40)
    market.asked = []
    cfg = PaperConfig(max_slippage_bps=D(100), starting_cash=D(100_000))
    ex = PaperExchange(
        sessions, book=market.order_book, rules=market.symbol_rules, config=lambda: cfg, clock=lambda: T0
    )

    small = await ex.submit_order(OrderRequest("ETHUSDT", OrderSide.BUY, D(3), "c1"))
    assert market.asked == [SHALLOW_BOOK]
    assert small.executed_quantity == D(3)

    big = await ex.submit_order(OrderRequest("ETHUSDT", OrderSide.BUY, D(30), "c2"))
    assert market.asked == [SHALLOW_BOOK, SHALLOW_BOOK, BOOK_LIMIT]
    assert big.status is OrderStatus.FILLED
    assert len(big.fills) == 30  # one base a level: 30 levels, ten past the shallow book
    assert big.fills[-1].price == D(1000) + D("0.1") * 29


def test_the_simulated_book_of_fewer_levels_is_the_top_of_the_deeper_one() -> None:
    now = datetime(2024, 3, 1, 12, 7, tzinfo=UTC)
    market = SimulatedMarket(7, clock=lambda: now)
    for symbol in market.symbols[:5]:
        deep = market.order_book(symbol, BOOK_LIMIT)
        shallow = market.order_book(symbol, SHALLOW_BOOK)
        assert shallow == _top(deep, SHALLOW_BOOK)
