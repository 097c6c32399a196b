"""Remove symbols whose book-top spread is wider than the maximum (or whose book is missing/crossed)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, Params
from config.settings import Settings


class MaxSpreadParams(Params):
    max_spread_bps: Decimal = Field(alias="QT_LIQUIDITY_MAX_SPREAD_BPS", gt=0)


class MaxSpreadFilter(LiquidityFilter[MaxSpreadParams]):
    name = "max_spread"
    description = "Bid/ask spread from the book top is at most QT_LIQUIDITY_MAX_SPREAD_BPS."
    params_model = MaxSpreadParams

    @classmethod
    def settings_params(cls, settings: Settings) -> dict[str, Any]:
        return {"QT_LIQUIDITY_MAX_SPREAD_BPS": settings.liquidity.max_spread_bps}

    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        book = candidate.book
        if book is None:
            return "no book top"
        if book.bid_price <= 0 or book.ask_price < book.bid_price:
            return f"unusable book top (bid {book.bid_price}, ask {book.ask_price})"
        spread = book.spread_bps
        if spread > self.params.max_spread_bps:
            return f"spread {spread:.1f} bps > {self.params.max_spread_bps}"
        return None
