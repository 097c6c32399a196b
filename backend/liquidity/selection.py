"""One universe selection from a market snapshot and optional model signals (pure: no I/O, time passed in)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ai_engine.signal import Signal
from backend.liquidity.analytics import build_analytics
from backend.liquidity.blend import BlendParams, BlendResult, Pick, blend
from backend.liquidity.filters import Candidate, FilterChain, FilterContext, FilterOutcome, build_chain
from backend.liquidity.ranking import Ranked, rank
from backend.market.types import MarketSnapshot
from config.settings import Settings


@dataclass(frozen=True)
class Selection:
    """The outcome of one refresh: weights (Decimal, summing to exactly 1) with their analytics.

    ``run_id`` is the liquidity_runs row (None until persisted).
    """

    created_at: datetime
    status: str  # ok | degraded
    picks: tuple[Pick, ...]
    analytics: dict[str, Any]
    problems: dict[str, str] = field(default_factory=dict)
    exclusions: dict[str, dict[str, str]] = field(default_factory=dict)
    market_source: str = ""
    data_taken_at: datetime | None = None
    model_version: str | None = None
    blend_mode: str = "liquidity_only"
    duration_seconds: float = 0.0
    run_id: int | None = None

    @property
    def weights(self) -> dict[str, Decimal]:
        return {p.symbol: p.weight for p in self.picks}

    @property
    def symbols(self) -> list[str]:
        return [p.symbol for p in self.picks]


@dataclass
class Computation:
    outcome: FilterOutcome
    ranked: list[Ranked]
    result: BlendResult
    selection: Selection


def candidates(snapshot: MarketSnapshot) -> list[Candidate]:
    return [
        Candidate(symbol, rules, snapshot.tickers.get(symbol), snapshot.book_tops.get(symbol))
        for symbol, rules in sorted(snapshot.rules.items())
    ]


def filter_and_rank(
    snapshot: MarketSnapshot, settings: Settings, *, now: datetime, chain: FilterChain | None = None
) -> tuple[FilterOutcome, list[Ranked]]:
    chain = chain if chain is not None else build_chain(settings)
    context = FilterContext(now=now, base_assets=frozenset(r.base_asset for r in snapshot.rules.values()))
    outcome = chain.apply(candidates(snapshot), context)
    liq = settings.liquidity
    ranked = rank(
        outcome.eligible,
        spread_penalty=liq.spread_penalty,
        limit=liq.universe_max,
        unknown_spread_bps=float(liq.max_spread_bps),
    )
    return outcome, ranked


def select(
    snapshot: MarketSnapshot,
    settings: Settings,
    *,
    now: datetime,
    prefiltered: tuple[FilterOutcome, list[Ranked]] | None = None,
    signals: Mapping[str, Signal] | None = None,
    model_version: str | None = None,
    model_note: str | None = None,
    problems: Mapping[str, str] | None = None,
) -> Computation:
    """Filter, rank, blend and describe; ``signals`` None = no model (pure liquidity blend)."""
    outcome, ranked = prefiltered or filter_and_rank(snapshot, settings, now=now)
    liq = settings.liquidity
    result = blend(ranked, signals, BlendParams.from_settings(liq))
    found = dict(problems or {})
    if not outcome.eligible:
        found["selection"] = "no symbol passed the filters; the previous selection is kept"
    elif len(result.picks) < liq.selection_min:
        found["selection"] = (
            f"only {len(result.picks)} symbols selectable, fewer than QT_LIQUIDITY_SELECTION_MIN={liq.selection_min}"
        )
    if result.picks and not result.cap_feasible:
        found["weights"] = (
            f"QT_LIQUIDITY_MAX_WEIGHT={liq.max_weight} cannot hold with {len(result.picks)} symbols: equal weights"
        )
    if result.strong_sell_fallback:
        found["strong_sell"] = "every candidate is a confident SELL; they are kept as a last resort"
    analytics = build_analytics(
        snapshot=snapshot,
        outcome=outcome,
        ranked=ranked,
        result=result,
        signals=signals if result.mode == "blended" else None,
        model_version=model_version,
        model_note=model_note,
        now=now,
    )
    selection = Selection(
        created_at=now,
        status="degraded" if found else "ok",
        picks=tuple(result.picks),
        analytics=analytics,
        problems=found,
        exclusions={s: {"filter": r.filter, "reason": r.reason} for s, r in outcome.removed.items()},
        market_source=snapshot.source,
        data_taken_at=snapshot.taken_at,
        model_version=model_version,
        blend_mode=result.mode,
    )
    return Computation(outcome=outcome, ranked=ranked, result=result, selection=selection)
