"""The simulated market's book: a symbol's best bid and ask from its last close and recent volume
(spreads widen as volume falls), and the depth levels around them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np

from backend.market.sources.simulated_universe import SimSymbol, _fmt
from backend.market.types import BookLevel, BookTop

NOISE_LEVELS = 100  # the paper exchange's deepest walk (exchanges/paper.py BOOK_LIMIT)


@dataclass(frozen=True, slots=True)
class BookSpec:
    """What a symbol's book depends on besides the last close and the recent volume."""

    symbol: str
    tick: float
    price_dp: int
    qty_dp: int
    expected_hour: float  # quote volume of a typical hour
    base_bps: float  # the spread at typical volume
    top_notional: float  # quote value at the best bid
    price_spec: str = ""  # ".{price_dp}f"
    qty_spec: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "price_spec", f".{self.price_dp}f")
        object.__setattr__(self, "qty_spec", f".{self.qty_dp}f")

    @classmethod
    def of(cls, spec: SimSymbol, tick: float, price_dp: int, qty_dp: int) -> BookSpec:
        base_bps = max(0.25 * math.sqrt(1e9 / max(spec.quote_volume, 1.0)), spec.spread_floor_bps, 0.1)
        return cls(
            spec.symbol, tick, price_dp, qty_dp, spec.quote_volume / 24, base_bps, max(spec.quote_volume / 5000, 5.0)
        )

    def top(self, mid: float, recent: float, time: datetime) -> BookTop:
        """The best bid and ask around ``mid`` given the last hour's quote volume ``recent``."""
        recent = recent or 1e-9
        # spreads widen as recent volume falls (square-root law), never below one tick
        spread_bps = self.base_bps * math.sqrt(max(self.expected_hour / recent, 0.25))
        tick = self.tick
        half = max(mid * spread_bps / 20_000, tick / 2)
        bid = math.floor((mid - half) / tick) * tick
        ask = math.ceil((mid + half) / tick) * tick
        if ask <= bid:
            ask = bid + tick
        top_notional = self.top_notional
        price, qty = self.price_spec, self.qty_spec  # format(x, ".Nf") is _fmt(x, N)
        return BookTop(
            symbol=self.symbol,
            bid_price=Decimal(format(bid, price)),
            bid_qty=Decimal(format(top_notional / mid, qty)),
            ask_price=Decimal(format(ask, price)),
            ask_qty=Decimal(format(top_notional * 0.9 / mid, qty)),
            time=time,
        )

    def depth(
        self, top: BookTop, tick: Decimal, limit: int, rng: np.random.Generator
    ) -> tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]:
        """(bids, asks), best first: ~2 bps apart, sizes growing away from the top, with noise."""
        mid = float(top.mid)
        gap = max(tick, _fmt(mid * 0.0002, self.price_dp))  # ~2 bps between levels
        growth = (1 + 0.35 * np.arange(limit)).tolist()
        # drawn for NOISE_LEVELS levels a side at least: a shallower book is the top of that one
        noise = np.exp(rng.normal(0, 0.3, size=(2, max(limit, NOISE_LEVELS))))
        noise_bid, noise_ask = noise[:, :limit].tolist()
        sdp = self.qty_dp
        bid_qty, ask_qty = float(top.bid_qty), float(top.ask_qty)
        bids = []
        for k in range(limit):
            price = top.bid_price - gap * k
            if price > 0:
                bids.append(BookLevel(price, _fmt(bid_qty * growth[k] * noise_bid[k], sdp)))
        asks = tuple(
            BookLevel(top.ask_price + gap * k, _fmt(ask_qty * growth[k] * noise_ask[k], sdp)) for k in range(limit)
        )
        return tuple(bids), asks
