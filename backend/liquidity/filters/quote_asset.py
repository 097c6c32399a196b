"""Keep symbols quoted in one of the allowed quote assets."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, Params
from config.settings import Settings


class QuoteAssetParams(Params):
    quote_assets: frozenset[str] = Field(alias="QT_LIQUIDITY_QUOTE_ASSETS", min_length=1)


class QuoteAssetFilter(LiquidityFilter[QuoteAssetParams]):
    name = "quote_asset"
    description = "Quote asset is in QT_LIQUIDITY_QUOTE_ASSETS (default: QT_EXECUTION_QUOTE_ASSET)."
    params_model = QuoteAssetParams

    @classmethod
    def settings_params(cls, settings: Settings) -> dict[str, Any]:
        return {"QT_LIQUIDITY_QUOTE_ASSETS": settings.liquidity_quote_assets}

    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        quote = candidate.rules.quote_asset
        if quote in self.params.quote_assets:
            return None
        return f"quote {quote} not in {','.join(sorted(self.params.quote_assets))}"
