"""Remove symbols whose 24h quote volume is below the minimum (or unknown)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, Params
from config.settings import Settings


class MinQuoteVolumeParams(Params):
    min_quote_volume: Decimal = Field(alias="QT_LIQUIDITY_MIN_QUOTE_VOLUME", ge=0)


class MinQuoteVolumeFilter(LiquidityFilter[MinQuoteVolumeParams]):
    name = "min_quote_volume"
    description = "24h quote volume is at least QT_LIQUIDITY_MIN_QUOTE_VOLUME."
    params_model = MinQuoteVolumeParams

    @classmethod
    def settings_params(cls, settings: Settings) -> dict[str, Any]:
        return {"QT_LIQUIDITY_MIN_QUOTE_VOLUME": settings.liquidity.min_quote_volume}

    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        if candidate.ticker is None:
            return "no 24h ticker"
        volume = candidate.ticker.quote_volume
        if volume < self.params.min_quote_volume:
            return f"24h quote volume {volume:.0f} < {self.params.min_quote_volume}"
        return None
