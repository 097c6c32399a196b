"""Remove symbols whose last price is outside the admitted range."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, Params
from config.settings import Settings


class PriceRangeParams(Params):
    min_price: Decimal = Field(alias="QT_LIQUIDITY_MIN_PRICE", ge=0)
    max_price: Decimal | None = Field(None, alias="QT_LIQUIDITY_MAX_PRICE", gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> PriceRangeParams:
        if self.max_price is not None and self.max_price <= self.min_price:
            raise ValueError("QT_LIQUIDITY_MAX_PRICE must be above QT_LIQUIDITY_MIN_PRICE")
        return self


class PriceRangeFilter(LiquidityFilter[PriceRangeParams]):
    name = "price_range"
    description = "Last price is within QT_LIQUIDITY_MIN_PRICE .. QT_LIQUIDITY_MAX_PRICE."
    params_model = PriceRangeParams

    @classmethod
    def settings_params(cls, settings: Settings) -> dict[str, Any]:
        return {
            "QT_LIQUIDITY_MIN_PRICE": settings.liquidity.min_price,
            "QT_LIQUIDITY_MAX_PRICE": settings.liquidity.max_price,
        }

    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        price = candidate.price
        if price is None:
            return "no price"
        if price < self.params.min_price:
            return f"price {price} < {self.params.min_price}"
        if self.params.max_price is not None and price > self.params.max_price:
            return f"price {price} > {self.params.max_price}"
        return None
