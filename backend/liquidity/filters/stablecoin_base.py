"""Remove pairs whose base asset is itself a stablecoin (or fiat): they carry no tradable risk."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, Params
from config.settings import Settings


class StablecoinParams(Params):
    stablecoins: frozenset[str] = Field(alias="QT_LIQUIDITY_STABLECOINS")


class StablecoinBaseFilter(LiquidityFilter[StablecoinParams]):
    name = "stablecoin_base"
    description = "Base asset is not a stablecoin or fiat currency (QT_LIQUIDITY_STABLECOINS)."
    params_model = StablecoinParams

    @classmethod
    def settings_params(cls, settings: Settings) -> dict[str, Any]:
        return {"QT_LIQUIDITY_STABLECOINS": settings.liquidity.stablecoins}

    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        if candidate.base in self.params.stablecoins:
            return f"base {candidate.base} is a stablecoin"
        return None
