"""Liquidity ranking: log-scaled 24h quote volume minus a spread penalty, cut to the universe size."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from backend.liquidity.filters.base import Candidate


@dataclass(frozen=True, slots=True)
class Ranked:
    symbol: str
    base: str
    quote_volume: Decimal
    spread_bps: float | None  # None: no usable book top
    score: float


def liquidity_score(quote_volume: Decimal, spread_bps: float, spread_penalty: float) -> float:
    """log10(1 + quote volume) − penalty × spread: ten times the volume is worth 1/penalty bps of spread."""
    return math.log10(1.0 + max(float(quote_volume), 0.0)) - spread_penalty * spread_bps


def _spread(candidate: Candidate) -> float | None:
    book = candidate.book
    if book is None or book.bid_price <= 0 or book.ask_price < book.bid_price:
        return None
    return float(book.spread_bps)


def rank(
    candidates: Iterable[Candidate],
    *,
    spread_penalty: float,
    limit: int,
    unknown_spread_bps: float,
) -> list[Ranked]:
    """The ``limit`` most liquid candidates, best first (ties broken by symbol, so runs are repeatable).

    A candidate without a usable book top is charged ``unknown_spread_bps`` (the widest spread the
    configuration admits), so missing data never ranks better than known data.
    """
    ranked: list[Ranked] = []
    for candidate in candidates:
        volume = candidate.ticker.quote_volume if candidate.ticker is not None else Decimal(0)
        spread = _spread(candidate)
        charged = unknown_spread_bps if spread is None else spread
        ranked.append(
            Ranked(
                symbol=candidate.symbol,
                base=candidate.base,
                quote_volume=volume,
                spread_bps=spread,
                score=liquidity_score(volume, charged, spread_penalty),
            )
        )
    ranked.sort(key=lambda r: (-r.score, r.symbol))
    return ranked[:limit]
