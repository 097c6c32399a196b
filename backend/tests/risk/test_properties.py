"""Property tests: random sequences of orders, fills, releases and prices never leave a limit exceeded.

The test keeps its own model of the ledger (positions it reports to the guard) and of the orders in
flight, and checks every accepted order against the limits independently of the guard's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.exchanges.base import OrderSide
from backend.risk.guard import RiskGuard
from backend.risk.models import TradeRecord
from backend.risk.store import RiskStateStore
from backend.tests.risk.conftest import T0, Clock, context, order, risk_settings

SYMBOLS = ("ETHUSDT", "SOLUSDT")
PER_TRADE = Decimal(1000)
PER_SYMBOL = Decimal(1500)
GROSS = Decimal(2500)
DAILY_LOSS = Decimal(300)
DEVIATION_PCT = Decimal(5)

prices = st.decimals(min_value=Decimal("60"), max_value=Decimal("200"), places=2)
quantities = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("9"), places=1)
# mostly a real price; now and then one that price sanity must refuse (None: a market order at the reference)
price_faults = st.sampled_from([None] * 10 + ["NaN", "Infinity", "-Infinity", "0", "-1", "None"])


@st.composite
def steps(draw: st.DrawFn) -> tuple[str, ...]:
    kind = draw(st.sampled_from(["order"] * 6 + ["fill", "fill", "release", "tick"]))
    if kind == "order":
        offset = draw(st.decimals(min_value=Decimal("-0.08"), max_value=Decimal("0.08"), places=3))
        return (
            "order",
            draw(st.sampled_from(SYMBOLS)),
            draw(st.sampled_from(["BUY", "BUY", "SELL"])),
            str(draw(quantities)),
            str(draw(prices)),
            str(offset),
            draw(price_faults),
        )
    if kind == "fill":
        return ("fill", str(draw(st.decimals(min_value=Decimal(-150), max_value=Decimal(60), places=2))))
    if kind == "release":
        return ("release",)
    return ("tick", str(draw(st.integers(min_value=1, max_value=200))))


@dataclass
class Model:
    positions: dict[str, Decimal] = field(default_factory=dict)
    in_flight: dict[str, tuple[str, OrderSide, Decimal]] = field(default_factory=dict)
    realised: Decimal = Decimal(0)

    def exposure(self, symbol: str) -> Decimal:
        pending = sum(
            (n for s, side, n in self.in_flight.values() if s == symbol and side is OrderSide.BUY), Decimal(0)
        )
        return self.positions.get(symbol, Decimal(0)) + pending

    def gross(self) -> Decimal:
        symbols = set(self.positions) | {s for s, _side, _n in self.in_flight.values()}
        return sum((abs(self.exposure(s)) for s in symbols), Decimal(0))


def new_guard() -> tuple[RiskGuard, RiskStateStore, Clock]:
    store = RiskStateStore("sqlite://")  # in memory; these steps run on one thread
    store.create()
    clock = Clock(T0)
    limits = risk_settings(
        QT_MAX_NOTIONAL_PER_TRADE=PER_TRADE,
        QT_MAX_POSITION_PER_SYMBOL=PER_SYMBOL,
        QT_MAX_GROSS_EXPOSURE=GROSS,
        QT_MAX_DAILY_LOSS=DAILY_LOSS,
        QT_MAX_PRICE_DEVIATION_PCT=DEVIATION_PCT,
    )
    guard = RiskGuard(store, lambda: limits, clock=clock)
    guard.load()
    return guard, store, clock


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps(), min_size=1, max_size=40))
def test_no_accepted_order_leaves_a_limit_exceeded(program: list[tuple[str, ...]]) -> None:
    guard, store, clock = new_guard()
    model = Model()
    try:
        for n, step in enumerate(program):
            if step[0] == "tick":
                clock.advance(seconds=int(step[1]))
            elif step[0] == "release" and model.in_flight:
                coid = next(iter(model.in_flight))
                guard.release(coid)
                del model.in_flight[coid]
            elif step[0] == "fill" and model.in_flight:
                coid = next(iter(model.in_flight))
                symbol, side, notional = model.in_flight.pop(coid)
                pnl = Decimal(step[1]) if side is OrderSide.SELL else Decimal(0)
                record = TradeRecord(coid, symbol, side, Decimal(1), notional, pnl, clock.now)
                assert guard.record_fill_sync(record)
                held = model.positions.get(symbol, Decimal(0))
                model.positions[symbol] = held + notional if side is OrderSide.BUY else max(held - notional, Decimal(0))
                model.realised += pnl
            elif step[0] == "order":
                _, symbol, side_name, qty, reference, offset, weird = step
                side = OrderSide(side_name)
                ref = Decimal(reference)
                price = ref * (1 + Decimal(offset)) if weird is None else (None if weird == "None" else Decimal(weird))
                o = order(symbol, side=side, quantity=qty, price=price, client_order_id=f"o{n}")
                decision = guard.check(o, context(now=clock.now, reference=ref, positions=dict(model.positions)))
                if not decision.allowed:
                    continue
                # price sanity held (a market order without a price is checked at the reference)
                price = ref if price is None else price
                assert price.is_finite()
                assert price > 0
                assert abs(price - ref) / ref * 100 <= DEVIATION_PCT
                notional = Decimal(qty) * price
                assert notional <= PER_TRADE
                if side is OrderSide.BUY:
                    # daily loss: no new risk once the realised loss reached the limit
                    assert -model.realised < DAILY_LOSS
                    before_symbol, before_gross = model.exposure(symbol), model.gross()
                    assert before_symbol + notional <= PER_SYMBOL
                    assert before_gross + notional <= GROSS
                model.in_flight[o.client_order_id] = (symbol, side, notional)
    finally:
        store.close()


@settings(max_examples=40, deadline=None)
@given(
    # whole hundreds hit the limit exactly as often as they cross it
    losses=st.lists(
        st.one_of(st.sampled_from([Decimal(50), Decimal(100), Decimal(150)]), st.decimals(1, 200, places=2)),
        min_size=1,
        max_size=8,
    ),
    minutes=st.integers(min_value=0, max_value=600),
)
def test_daily_loss_blocks_new_risk_exactly_when_the_limit_is_reached(losses: list[Decimal], minutes: int) -> None:
    guard, store, clock = new_guard()
    try:
        total = Decimal(0)
        for i, loss in enumerate(losses):
            guard.record_fill_sync(TradeRecord(f"l{i}", "ETHUSDT", OrderSide.SELL, Decimal(1), loss, -loss, clock.now))
            total += loss
            now = clock.now + timedelta(minutes=minutes)
            if now.date() != clock.now.date():
                continue
            buy = guard.check(order("ETHUSDT", quantity="1"), context(now=now))
            assert buy.allowed is (total < DAILY_LOSS), (total, buy)
            sale = guard.check(order("ETHUSDT", side="SELL", quantity="1"), context(now=now))
            assert sale.allowed
    finally:
        store.close()
