"""The explicit registry of filters and the configured chain built from it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter
from backend.liquidity.filters.blacklist import BlacklistFilter
from backend.liquidity.filters.leveraged_token import LeveragedTokenFilter
from backend.liquidity.filters.listing_age import ListingAgeFilter
from backend.liquidity.filters.max_spread import MaxSpreadFilter
from backend.liquidity.filters.min_quote_volume import MinQuoteVolumeFilter
from backend.liquidity.filters.price_range import PriceRangeFilter
from backend.liquidity.filters.quote_asset import QuoteAssetFilter
from backend.liquidity.filters.stablecoin_base import StablecoinBaseFilter
from backend.liquidity.filters.status import StatusFilter
from backend.liquidity.filters.whitelist import WhitelistFilter
from config.settings import ConfigError, Settings, format_validation_error

AnyFilter = LiquidityFilter[Any]

FILTERS: dict[str, type[AnyFilter]] = {
    cls.name: cls
    for cls in (
        StatusFilter,
        QuoteAssetFilter,
        StablecoinBaseFilter,
        LeveragedTokenFilter,
        MinQuoteVolumeFilter,
        MaxSpreadFilter,
        PriceRangeFilter,
        ListingAgeFilter,
        BlacklistFilter,
        WhitelistFilter,
    )
}

EXAMPLES_PER_FILTER = 5


@dataclass(frozen=True, slots=True)
class Removal:
    filter: str
    reason: str


@dataclass
class FilterStep:
    """What one filter did in one run."""

    name: str
    description: str
    input_count: int
    removed_count: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "filter": self.name,
            "description": self.description,
            "input": self.input_count,
            "removed": self.removed_count,
            "examples": [{"symbol": symbol, "reason": reason} for symbol, reason in self.examples],
        }


@dataclass
class FilterOutcome:
    eligible: list[Candidate]
    steps: list[FilterStep]
    removed: dict[str, Removal]  # every removed symbol -> the filter that removed it and why


class FilterChain:
    """The configured filters, applied in order; each symbol is removed by the first filter refusing it."""

    def __init__(self, filters: Sequence[AnyFilter]) -> None:
        self.filters = list(filters)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.filters]

    def apply(self, candidates: Iterable[Candidate], context: FilterContext) -> FilterOutcome:
        current = list(candidates)
        steps: list[FilterStep] = []
        removed: dict[str, Removal] = {}
        for flt in self.filters:
            step = FilterStep(flt.name, flt.description, len(current))
            kept: list[Candidate] = []
            for candidate in current:
                reason = flt.reason(candidate, context)
                if reason is None:
                    kept.append(candidate)
                    continue
                step.removed_count += 1
                removed[candidate.symbol] = Removal(flt.name, reason)
                if len(step.examples) < EXAMPLES_PER_FILTER:
                    step.examples.append((candidate.symbol, reason))
            steps.append(step)
            current = kept
        return FilterOutcome(eligible=current, steps=steps, removed=removed)


def build_filter(name: str, settings: Settings) -> AnyFilter:
    """One filter with its params validated from the settings; ConfigError names what is wrong."""
    cls = FILTERS.get(name)
    if cls is None:
        raise ConfigError([f"QT_LIQUIDITY_FILTERS: unknown filter {name!r} (known: {', '.join(FILTERS)})"])
    try:
        params = cls.params_model.model_validate(cls.settings_params(settings))
    except ValidationError as exc:
        raise ConfigError([f"QT_LIQUIDITY_FILTERS[{name}]: {line}" for line in format_validation_error(exc)]) from exc
    return cls(params)


def build_chain(settings: Settings) -> FilterChain:
    """The chain QT_LIQUIDITY_FILTERS names; every problem is collected into one ConfigError."""
    problems: list[str] = []
    filters: list[AnyFilter] = []
    for name in settings.liquidity.filters:
        try:
            filters.append(build_filter(name, settings))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return FilterChain(filters)
