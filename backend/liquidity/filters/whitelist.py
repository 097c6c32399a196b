"""When a whitelist is set, keep only its symbols (an empty whitelist keeps everything)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, Params
from config.settings import Settings


class WhitelistParams(Params):
    symbols: frozenset[str] = Field(alias="QT_LIQUIDITY_WHITELIST")


class WhitelistFilter(LiquidityFilter[WhitelistParams]):
    name = "whitelist"
    description = "When QT_LIQUIDITY_WHITELIST is set, symbol is in it."
    params_model = WhitelistParams

    @classmethod
    def settings_params(cls, settings: Settings) -> dict[str, Any]:
        return {"QT_LIQUIDITY_WHITELIST": settings.liquidity.whitelist}

    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        if not self.params.symbols or candidate.symbol in self.params.symbols:
            return None
        return "not in whitelist"
