"""The analytics payload of a run: plain JSON data for the API, the job status and the database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from ai_engine.signal import Action, Signal
from backend.liquidity.blend import BlendResult
from backend.liquidity.filters import FilterOutcome
from backend.liquidity.ranking import Ranked
from backend.market.types import MarketSnapshot

TOP_N = 10
ACTION_KEYS = (Action.BUY.value, Action.HOLD.value, Action.SELL.value, "none")


def _actions(symbols: Sequence[str], signals: Mapping[str, Signal] | None) -> dict[str, int]:
    counts = dict.fromkeys(ACTION_KEYS, 0)
    for symbol in symbols:
        signal = signals.get(symbol) if signals is not None else None
        counts[signal.action.value if signal is not None else "none"] += 1
    return counts


def data_age_seconds(snapshot: MarketSnapshot, now: datetime) -> float:
    """Age of the stalest kind of price data: the newest 24h ticker and the newest book top each
    say when they describe the market; cached data is as old as that, whenever the snapshot was taken."""
    newest = [
        max((t.close_time for t in snapshot.tickers.values()), default=None),
        max((b.time for b in snapshot.book_tops.values()), default=None),
    ]
    ages = [(now - moment).total_seconds() for moment in newest if moment is not None]
    if not ages:
        ages = [(now - snapshot.taken_at).total_seconds()]
    return round(max(max(ages), 0.0), 3)


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole > 0 else None


def build_analytics(
    *,
    snapshot: MarketSnapshot,
    outcome: FilterOutcome,
    ranked: Sequence[Ranked],
    result: BlendResult,
    signals: Mapping[str, Signal] | None,
    model_version: str | None,
    model_note: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Universe size, counts, coverage, filter report, action and base breakdowns, top weights, providers."""
    eligible_volume = sum((c.ticker.quote_volume for c in outcome.eligible if c.ticker is not None), start=Decimal(0))
    volume_of = {r.symbol: r.quote_volume for r in ranked}
    selected_volume = sum((volume_of.get(p.symbol, Decimal(0)) for p in result.picks), start=Decimal(0))
    ranked_symbols = [r.symbol for r in ranked]
    selected_symbols = [p.symbol for p in result.picks]
    with_signal = sum(1 for s in ranked_symbols if signals is not None and s in signals)

    bases: dict[str, dict[str, Any]] = {}
    for pick in result.picks:
        entry = bases.setdefault(pick.base, {"count": 0, "weight": 0.0})
        entry["count"] += 1
        entry["weight"] = round(entry["weight"] + float(pick.weight), 6)
    top = sorted(result.picks, key=lambda p: (-p.weight, p.symbol))[:TOP_N]
    exclusions_by_filter = Counter(removal.filter for removal in outcome.removed.values())

    return {
        "universe_size": len(snapshot.rules),
        "eligible_count": len(outcome.eligible),
        "ranked_count": len(ranked),
        "selected_count": len(result.picks),
        "coverage": {
            "selected_of_eligible": _ratio(len(result.picks), len(outcome.eligible)),
            "selected_quote_volume_share": _ratio(float(selected_volume), float(eligible_volume)),
            "model_signals_of_ranked": _ratio(with_signal, len(ranked)) if signals is not None else None,
        },
        "filters": [step.as_dict() for step in outcome.steps],
        "excluded_by_filter": dict(exclusions_by_filter),
        "actions": {
            "ranked": _actions(ranked_symbols, signals),
            "selected": _actions(selected_symbols, signals),
        },
        "bases": dict(sorted(bases.items(), key=lambda kv: (-kv[1]["weight"], kv[0]))),
        "top": [
            {
                "symbol": p.symbol,
                "weight": float(p.weight),
                "liquidity_score": round(p.liquidity_score, 6),
                "blended_score": round(p.blended_score, 6),
                "action": p.action.value if p.action is not None else None,
                "confidence": round(p.confidence, 6) if p.confidence is not None else None,
            }
            for p in top
        ],
        "blend": {
            "mode": result.mode,
            "note": model_note,
            "liq_weight": round(result.liq_weight, 6),
            "model_weight": round(result.model_weight, 6),
            "strong_sells_dropped": result.strong_sells_dropped,
            "strong_sell_fallback": result.strong_sell_fallback,
            "skipped_for_base": result.skipped_for_base,
            "cap_feasible": result.cap_feasible,
        },
        "provider": {
            "market_source": snapshot.source,
            "data_taken_at": snapshot.taken_at.isoformat(),
            "data_age_seconds": data_age_seconds(snapshot, now),
            "model_version": model_version,
        },
    }
