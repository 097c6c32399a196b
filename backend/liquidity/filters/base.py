"""The filter contract: one small class per rule, with typed params and a one-line description."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from backend.market.types import BookTop, SymbolRules, Ticker24h
from config.settings import Settings


@dataclass(frozen=True, slots=True)
class Candidate:
    """One symbol as the filters see it: its rules and, when the market had them, ticker and book top."""

    symbol: str
    rules: SymbolRules
    ticker: Ticker24h | None
    book: BookTop | None

    @property
    def base(self) -> str:
        return self.rules.base_asset

    @property
    def price(self) -> Decimal | None:
        if self.ticker is not None:
            return self.ticker.last_price
        if self.book is not None:
            return self.book.mid
        return None


@dataclass(frozen=True, slots=True)
class FilterContext:
    """What a filter may know besides the candidate: the time of the snapshot and every base asset listed."""

    now: datetime
    base_assets: frozenset[str]


class Params(BaseModel):
    """Base of every filter's params: immutable, unknown keys refused, fields aliased by their env name."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class NoParams(Params):
    pass


P = TypeVar("P", bound=Params)


class LiquidityFilter(ABC, Generic[P]):
    """A rule that keeps or removes one candidate; ``reason`` says why it removes (None keeps)."""

    name: ClassVar[str]
    description: ClassVar[str]
    params_model: ClassVar[type[Params]]

    def __init__(self, params: P) -> None:
        self.params = params

    @classmethod
    def settings_params(cls, settings: Settings) -> dict[str, Any]:
        """Raw params from the settings, keyed by environment variable name (validated by params_model)."""
        return {}

    @abstractmethod
    def reason(self, candidate: Candidate, context: FilterContext) -> str | None:
        """Why ``candidate`` is removed, or None to keep it."""
