"""Keep symbols the exchange is trading now, with spot trading allowed."""

from __future__ import annotations

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, NoParams


class StatusFilter(LiquidityFilter[NoParams]):
    name = "status"
    description = "Symbol status is TRADING and spot trading is allowed."
    params_model = NoParams

    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        if not candidate.rules.is_trading:
            return f"status {candidate.rules.status}"
        if not candidate.rules.spot_allowed:
            return "spot trading not allowed"
        return None
