"""Blend the liquidity ranking with the model's view into capped weights that sum to exactly 1."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from ai_engine.signal import Action, Signal
from backend.liquidity.ranking import Ranked
from config.liquidity import LiquiditySettings

WEIGHT_QUANTUM = Decimal("1e-10")  # matches liquidity_selections.weight NUMERIC(20, 10)
# A confident SELL keeps this fraction of its blended score: far below any normal pick.
STRONG_SELL_FACTOR = 0.05
# The smallest raw score a pick carries, so a selected symbol never gets a zero weight.
MIN_SCORE = 1e-9


@dataclass(frozen=True, slots=True)
class BlendParams:
    liq_weight: float
    model_weight: float
    sell_threshold: float
    max_per_base: int  # 0 = no cap
    max_weight: float
    selection_max: int
    strong_sell_factor: float = STRONG_SELL_FACTOR

    @classmethod
    def from_settings(cls, settings: LiquiditySettings) -> BlendParams:
        return cls(
            liq_weight=settings.liq_weight,
            model_weight=settings.model_weight,
            sell_threshold=settings.model_sell_threshold,
            max_per_base=settings.max_per_base,
            max_weight=settings.max_weight,
            selection_max=settings.selection_max,
        )


@dataclass(frozen=True, slots=True)
class Pick:
    symbol: str
    base: str
    weight: Decimal
    liquidity_score: float
    liquidity_component: float  # liquidity score relative to the best ranked one, 0..1
    model_component: float | None  # 0 (sure SELL) .. 0.5 (neutral) .. 1 (sure BUY); None without a model
    blended_score: float
    action: Action | None
    confidence: float | None
    strong_sell: bool


@dataclass
class BlendResult:
    picks: list[Pick]
    mode: str  # "blended" | "liquidity_only"
    liq_weight: float  # normalised
    model_weight: float  # normalised
    strong_sells_dropped: list[str] = field(default_factory=list)
    skipped_for_base: list[str] = field(default_factory=list)
    cap_feasible: bool = True
    strong_sell_fallback: bool = False  # nothing else was left, so confident SELLs were kept

    @property
    def weights(self) -> dict[str, Decimal]:
        return {p.symbol: p.weight for p in self.picks}


def model_component(signal: Signal) -> float:
    """0.5 + (P(BUY) − P(SELL)) / 2: BUY raises it, HOLD is neutral, SELL lowers it."""
    probs = signal.probabilities
    if probs:
        buy = float(probs.get(Action.BUY, 0.0))
        sell = float(probs.get(Action.SELL, 0.0))
    else:
        buy = signal.confidence if signal.action is Action.BUY else 0.0
        sell = signal.confidence if signal.action is Action.SELL else 0.0
    return min(max(0.5 + (buy - sell) / 2, 0.0), 1.0)


def cap_weights(raw: Sequence[float], cap: float) -> tuple[list[float], bool]:
    """Normalise ``raw`` and cap each weight at ``cap``, redistributing the excess pro rata.

    Returns (weights, feasible). When ``len(raw) × cap < 1`` no capped weights can sum to 1: the
    weights are then equal (the closest to the cap possible) and feasible is False.
    """
    n = len(raw)
    if n == 0:
        return [], True
    if n * Decimal(str(cap)) < 1:
        return [1.0 / n] * n, False
    scores = [max(r, MIN_SCORE) for r in raw]
    capped = [False] * n
    weights = [0.0] * n
    while True:
        free = 1.0 - cap * sum(capped)
        rest = sum(s for s, c in zip(scores, capped, strict=True) if not c)
        over = False
        for i in range(n):
            if capped[i]:
                weights[i] = cap
                continue
            weights[i] = free * scores[i] / rest if rest > 0 else 0.0
            if weights[i] > cap:
                over = True
        if not over:
            return weights, True
        for i in range(n):
            if not capped[i] and weights[i] > cap:
                capped[i] = True


def quantize_weights(weights: Sequence[float], cap: float, feasible: bool) -> list[Decimal]:
    """Decimal weights summing to exactly 1: floor each, then hand the remainder to those with room."""
    if not weights:
        return []
    cap_d = Decimal(str(cap)).quantize(WEIGHT_QUANTUM, rounding=ROUND_DOWN) if feasible else Decimal(1)
    out = [min(Decimal(repr(w)).quantize(WEIGHT_QUANTUM, rounding=ROUND_DOWN), cap_d) for w in weights]
    remainder = Decimal(1) - sum(out)
    order = sorted(range(len(out)), key=lambda i: (-(cap_d - out[i]), i))
    for i in order:
        if remainder <= 0:
            break
        give = min(cap_d - out[i], remainder)
        out[i] += give
        remainder -= give
    return out


def blend(ranked: Sequence[Ranked], signals: Mapping[str, Signal] | None, params: BlendParams) -> BlendResult:
    """Select and weight symbols from the ranked universe; ``signals`` None means no model."""
    total = params.liq_weight + params.model_weight
    if total <= 0:
        raise ValueError("QT_LIQUIDITY_LIQ_WEIGHT and QT_LIQUIDITY_MODEL_WEIGHT cannot both be zero")
    use_model = signals is not None and params.model_weight > 0
    wl, wm = (params.liq_weight / total, params.model_weight / total) if use_model else (1.0, 0.0)
    result = BlendResult(picks=[], mode="blended" if use_model else "liquidity_only", liq_weight=wl, model_weight=wm)
    if not ranked:
        return result

    best = max(r.score for r in ranked)
    rows: list[tuple[Ranked, float, float | None, float, Signal | None, bool]] = []
    for r in ranked:
        liq = max(r.score, 0.0) / best if best > 0 else 1.0
        signal = signals.get(r.symbol) if use_model and signals is not None else None
        model = model_component(signal) if signal is not None else (0.5 if use_model else None)
        score = wl * liq + wm * (model if model is not None else 0.0)
        strong_sell = bool(
            signal is not None and signal.action is Action.SELL and signal.confidence >= params.sell_threshold
        )
        if strong_sell:
            score *= params.strong_sell_factor
        rows.append((r, liq, model, score, signal, strong_sell))

    rows.sort(key=lambda row: (-row[3], -row[0].score, row[0].symbol))
    pool = [row for row in rows if not row[5]]
    dropped = [row[0].symbol for row in rows if row[5]]
    if not pool:
        pool, dropped = rows, []
        result.strong_sell_fallback = bool(rows)
    result.strong_sells_dropped = dropped

    chosen: list[tuple[Ranked, float, float | None, float, Signal | None, bool]] = []
    per_base: dict[str, int] = {}
    for row in pool:
        if len(chosen) >= params.selection_max:
            break
        base = row[0].base
        if params.max_per_base and per_base.get(base, 0) >= params.max_per_base:
            result.skipped_for_base.append(row[0].symbol)
            continue
        per_base[base] = per_base.get(base, 0) + 1
        chosen.append(row)

    floats, result.cap_feasible = cap_weights([row[3] for row in chosen], params.max_weight)
    decimals = quantize_weights(floats, params.max_weight, result.cap_feasible)
    for (r, liq, model, score, signal, strong_sell), weight in zip(chosen, decimals, strict=True):
        result.picks.append(
            Pick(
                symbol=r.symbol,
                base=r.base,
                weight=weight,
                liquidity_score=r.score,
                liquidity_component=liq,
                model_component=model,
                blended_score=score,
                action=signal.action if signal is not None else None,
                confidence=signal.confidence if signal is not None else None,
                strong_sell=strong_sell,
            )
        )
    return result
