"""Remove the symbols the operator never wants selected."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, Params
from config.settings import Settings


class BlacklistParams(Params):
    symbols: frozenset[str] = Field(alias="QT_LIQUIDITY_BLACKLIST")


class BlacklistFilter(LiquidityFilter[BlacklistParams]):
    name = "blacklist"
    description = "Symbol is not in QT_LIQUIDITY_BLACKLIST."
    params_model = BlacklistParams

    @classmethod
    def settings_params(cls, settings: Settings) -> dict[str, Any]:
        return {"QT_LIQUIDITY_BLACKLIST": settings.liquidity.blacklist}

    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        return "blacklisted" if candidate.symbol in self.params.symbols else None
