"""Remove leveraged tokens: the *base* asset ends in UP/DOWN/BULL/BEAR on top of an underlying."""

from __future__ import annotations

from pydantic import Field

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, Params

# A base like JUP ends in "UP" but is not a leveraged token: the part before the suffix must be a
# listed base asset (BTCUP -> BTC) or at least three characters long.
MIN_UNKNOWN_UNDERLYING = 3


class LeveragedTokenParams(Params):
    suffixes: tuple[str, ...] = Field(("UP", "DOWN", "BULL", "BEAR"), min_length=1)


class LeveragedTokenFilter(LiquidityFilter[LeveragedTokenParams]):
    name = "leveraged_token"
    description = "Base asset is not a leveraged token (base ending in UP, DOWN, BULL or BEAR)."
    params_model = LeveragedTokenParams

    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        base = candidate.base
        for suffix in self.params.suffixes:
            if not base.endswith(suffix) or base == suffix:
                continue
            underlying = base[: -len(suffix)]
            if underlying in context.base_assets or len(underlying) >= MIN_UNKNOWN_UNDERLYING:
                return f"base {base} is a leveraged token ({underlying} {suffix})"
        return None
