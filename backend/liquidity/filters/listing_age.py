"""Remove symbols listed more recently than the minimum age (an unknown listing date passes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, Params
from config.settings import Settings


class ListingAgeParams(Params):
    min_listing_days: int = Field(alias="QT_LIQUIDITY_MIN_LISTING_DAYS", ge=0)


class ListingAgeFilter(LiquidityFilter[ListingAgeParams]):
    name = "listing_age"
    description = "Listed at least QT_LIQUIDITY_MIN_LISTING_DAYS days ago (unknown listing dates pass)."
    params_model = ListingAgeParams

    @classmethod
    def settings_params(cls, settings: Settings) -> dict[str, Any]:
        return {"QT_LIQUIDITY_MIN_LISTING_DAYS": settings.liquidity.min_listing_days}

    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        listed_at = candidate.rules.listed_at
        if listed_at is None:
            # Binance's exchangeInfo carries no listing date; refusing every such symbol would
            # empty the live universe, so the rule only applies where the source knows the date.
            return None
        age = context.now - listed_at
        if age < timedelta(days=self.params.min_listing_days):
            return f"listed {age.total_seconds() / 86_400:.1f} days ago < {self.params.min_listing_days}"
        return None
