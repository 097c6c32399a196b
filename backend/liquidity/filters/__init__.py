"""Liquidity filters: the ABC, one small module per rule, and the explicit registry."""

from backend.liquidity.filters.base import Candidate, FilterContext, LiquidityFilter, Params
from backend.liquidity.filters.registry import (
    FILTERS,
    FilterChain,
    FilterOutcome,
    FilterStep,
    Removal,
    build_chain,
    build_filter,
)

__all__ = [
    "FILTERS",
    "Candidate",
    "FilterChain",
    "FilterContext",
    "FilterOutcome",
    "FilterStep",
    "LiquidityFilter",
    "Params",
    "Removal",
    "build_chain",
    "build_filter",
]
