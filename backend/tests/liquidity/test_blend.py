"""The blend: normalised blend weights, the SELL threshold, per-base and per-symbol caps, no-model fallback."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ai_engine.signal import Action, Signal
from backend.liquidity.blend import BlendParams, blend, cap_weights, model_component, quantize_weights
from backend.liquidity.ranking import Ranked
from backend.tests.liquidity.factories import signal


def _ranked(*items: tuple[str, float] | tuple[str, float, str]) -> list[Ranked]:
    out = []
    for item in items:
        symbol, score = item[0], item[1]
        base = item[2] if len(item) == 3 else symbol  # type: ignore[misc]
        out.append(
            Ranked(
                symbol=symbol + "USDT" if len(item) == 2 else symbol,
                base=base,
                quote_volume=Decimal(10) ** int(score),
                spread_bps=1.0,
                score=score,
            )
        )
    return out


def _params(**changes: object) -> BlendParams:
    values: dict[str, object] = {
        "liq_weight": 0.6,
        "model_weight": 0.4,
        "sell_threshold": 0.55,
        "max_per_base": 1,
        "max_weight": 1.0,
        "selection_max": 10,
    }
    values.update(changes)
    return BlendParams(**values)  # type: ignore[arg-type]


FOUR = _ranked(("AAA", 8.0), ("BBB", 8.0), ("CCC", 8.0), ("DDD", 8.0))


def _weights(signals: dict[str, Signal] | None, **params: object) -> dict[str, Decimal]:
    return blend(FOUR, signals, _params(**params)).weights


# -- normalisation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("liq", "model", "expected_liq", "expected_model"),
    [(0.6, 0.4, 0.6, 0.4), (3.0, 2.0, 0.6, 0.4), (1.0, 0.0, 1.0, 0.0), (0.0, 5.0, 0.0, 1.0), (1.0, 1.0, 0.5, 0.5)],
)
def test_blend_weights_are_normalised(liq: float, model: float, expected_liq: float, expected_model: float) -> None:
    signals = {"AAAUSDT": signal("AAAUSDT", Action.BUY, 0.9)}
    result = blend(FOUR, signals, _params(liq_weight=liq, model_weight=model))
    assert math.isclose(result.liq_weight, expected_liq)
    assert math.isclose(result.model_weight, expected_model)
    assert sum(result.weights.values()) == Decimal(1)


def test_scaling_both_blend_weights_changes_nothing() -> None:
    signals = {"AAAUSDT": signal("AAAUSDT", Action.BUY, 0.9), "BBBUSDT": signal("BBBUSDT", Action.SELL, 0.4)}
    assert _weights(signals, liq_weight=0.6, model_weight=0.4) == _weights(signals, liq_weight=6, model_weight=4)


def test_both_blend_weights_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot both be zero"):
        blend(FOUR, None, _params(liq_weight=0.0, model_weight=0.0))


def test_selection_weights_are_proportional_to_blended_scores() -> None:
    ranked = _ranked(("AAA", 9.0), ("BBB", 6.0), ("CCC", 3.0))
    result = blend(ranked, None, _params())
    assert [float(w) for w in result.weights.values()] == pytest.approx([0.5, 1 / 3, 1 / 6], abs=1e-9)
    assert sum(result.weights.values()) == Decimal(1)


# -- the model's view: BUY raises, HOLD is neutral, SELL lowers; SELL >= threshold drops -------
@pytest.mark.parametrize(
    ("action", "confidence", "component"),
    [
        (Action.BUY, 1.0, 1.0),
        (Action.BUY, 0.6, 0.7),  # 0.5 + (0.6 - 0.2) / 2
        (Action.HOLD, 0.8, 0.5),
        (Action.SELL, 0.6, 0.3),
        (Action.SELL, 1.0, 0.0),
    ],
)
def test_model_component_from_probabilities(action: Action, confidence: float, component: float) -> None:
    assert math.isclose(model_component(signal("X", action, confidence)), component)


def test_hold_is_neutral_like_no_signal() -> None:
    hold = {"AAAUSDT": signal("AAAUSDT", Action.HOLD, 0.9)}
    assert _weights(hold) == _weights({})


def test_buy_raises_the_weight() -> None:
    buy = _weights({"AAAUSDT": signal("AAAUSDT", Action.BUY, 0.8)})
    others = [buy["BBBUSDT"], buy["CCCUSDT"], buy["DDDUSDT"]]
    assert buy["AAAUSDT"] > max(others)
    assert max(others) - min(others) <= Decimal("1e-9")  # equal up to the rounding remainder


@pytest.mark.parametrize(
    ("confidence", "dropped"),
    [(0.40, False), (0.50, False), (0.5499, False), (0.55, True), (0.5501, True), (0.90, True)],
)
def test_sell_threshold_on_both_sides_of_055(confidence: float, dropped: bool) -> None:
    result = blend(FOUR, {"AAAUSDT": signal("AAAUSDT", Action.SELL, confidence)}, _params(sell_threshold=0.55))
    weights = result.weights
    assert ("AAAUSDT" not in weights) is dropped
    assert (result.strong_sells_dropped == ["AAAUSDT"]) is dropped
    if not dropped:  # a weaker SELL stays selected and costs some weight, never all of it
        assert Decimal(0) < weights["AAAUSDT"] < weights["BBBUSDT"]
    assert sum(weights.values()) == Decimal(1)


def test_weaker_sell_costs_less_than_stronger_sell() -> None:
    weak = _weights({"AAAUSDT": signal("AAAUSDT", Action.SELL, 0.40)})["AAAUSDT"]
    weaker = _weights({"AAAUSDT": signal("AAAUSDT", Action.SELL, 0.34)})["AAAUSDT"]
    neutral = _weights({})["AAAUSDT"]
    assert weak < weaker < neutral


def test_confident_sells_are_kept_only_when_nothing_else_is_left() -> None:
    signals = {
        s: signal(s, Action.SELL, 0.9 if s != "CCCUSDT" else 0.7) for s in ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")
    }
    result = blend(FOUR, signals, _params())
    assert result.strong_sell_fallback
    assert result.strong_sells_dropped == []
    assert set(result.weights) == {"AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT"}
    assert all(p.strong_sell for p in result.picks)
    # the least confident SELL keeps the most weight
    assert max(result.weights, key=lambda s: result.weights[s]) == "CCCUSDT"
    assert sum(result.weights.values()) == Decimal(1)


def test_one_non_sell_left_takes_everything() -> None:
    signals = {s: signal(s, Action.SELL, 0.9) for s in ("AAAUSDT", "BBBUSDT", "CCCUSDT")}
    assert _weights(signals) == {"DDDUSDT": Decimal(1)}


# -- no model -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("signals", "model_weight"),
    [(None, 0.4), ({"AAAUSDT": signal("AAAUSDT", Action.SELL, 0.99)}, 0.0)],
    ids=["no-model", "model-weight-zero"],
)
def test_without_a_model_the_blend_is_pure_liquidity(signals: dict[str, Signal] | None, model_weight: float) -> None:
    ranked = _ranked(("AAA", 9.0), ("BBB", 6.0))
    result = blend(ranked, signals, _params(model_weight=model_weight))
    assert result.mode == "liquidity_only"
    assert (result.liq_weight, result.model_weight) == (1.0, 0.0)
    assert [p.model_component for p in result.picks] == [None, None]
    assert [float(w) for w in result.weights.values()] == pytest.approx([0.6, 0.4], abs=1e-9)


def test_with_a_model_the_mode_says_blended() -> None:
    assert blend(FOUR, {}, _params()).mode == "blended"


# -- caps: per base asset, per symbol, selection size ------------------------------------------
@pytest.mark.parametrize(
    ("max_per_base", "expected"),
    [
        (1, ["BTCUSDT", "ETHUSDT"]),
        (2, ["BTCUSDT", "BTCFDUSD", "ETHUSDT", "ETHBTC"]),
        (0, ["BTCUSDT", "BTCFDUSD", "BTCEUR", "ETHUSDT", "ETHBTC"]),
    ],
)
def test_max_per_base_caps_picks_per_base_asset(max_per_base: int, expected: list[str]) -> None:
    ranked = _ranked(
        ("BTCUSDT", 9.0, "BTC"),
        ("BTCFDUSD", 8.5, "BTC"),
        ("BTCEUR", 8.0, "BTC"),
        ("ETHUSDT", 7.5, "ETH"),
        ("ETHBTC", 7.0, "ETH"),
    )
    result = blend(ranked, None, _params(max_per_base=max_per_base))
    assert sorted(result.weights) == sorted(expected)
    assert sorted(result.skipped_for_base) == sorted({r.symbol for r in ranked} - set(expected))


def test_selection_holds_at_most_selection_max_best_first() -> None:
    ranked = _ranked(("AAA", 9.0), ("BBB", 8.0), ("CCC", 7.0), ("DDD", 6.0))
    assert list(blend(ranked, None, _params(selection_max=2)).weights) == ["AAAUSDT", "BBBUSDT"]


def test_per_symbol_cap_redistributes_the_excess_pro_rata() -> None:
    ranked = _ranked(("AAA", 90.0), ("BBB", 2.0), ("CCC", 1.0), ("DDD", 1.0))
    result = blend(ranked, None, _params(max_weight=0.35))
    w = result.weights
    assert w["AAAUSDT"] == Decimal("0.35")
    assert float(w["BBBUSDT"]) == pytest.approx(0.65 * 2 / 4, abs=1e-9)
    assert float(w["CCCUSDT"]) == pytest.approx(0.65 / 4, abs=1e-9)
    assert sum(w.values()) == Decimal(1)
    assert result.cap_feasible


def test_cap_that_cascades_caps_several_symbols() -> None:
    weights, feasible = cap_weights([50, 40, 5, 3, 2], 0.3)
    assert feasible
    assert weights[:2] == [0.3, 0.3]
    assert weights[2] == pytest.approx(0.4 * 5 / 10)
    assert sum(weights) == pytest.approx(1.0)


def test_cap_too_small_for_the_selection_gives_equal_weights() -> None:
    result = blend(_ranked(("AAA", 9.0), ("BBB", 3.0)), None, _params(max_weight=0.35))
    assert not result.cap_feasible
    assert list(result.weights.values()) == [Decimal("0.5"), Decimal("0.5")]


def test_quantized_weights_sum_to_exactly_one_and_respect_the_cap() -> None:
    out = quantize_weights([1 / 3, 1 / 3, 1 / 3], 0.34, True)
    assert sum(out) == Decimal(1)
    assert all(w <= Decimal("0.34") for w in out)


def test_empty_universe_selects_nothing() -> None:
    result = blend([], None, _params())
    assert result.picks == []
    assert result.weights == {}


# -- property: weights always sum to 1 and respect every cap ------------------------------------
BASES = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE"]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Ranked], dict[str, Signal] | None, BlendParams]:
    n = draw(st.integers(min_value=1, max_value=25))
    ranked = []
    for i in range(n):
        base = draw(st.sampled_from(BASES))
        score = draw(st.floats(min_value=-2.0, max_value=12.0, allow_nan=False))
        ranked.append(Ranked(f"{base}Q{i}", base, Decimal(1000), 1.0, score))
    ranked.sort(key=lambda r: (-r.score, r.symbol))
    signals: dict[str, Signal] | None = None
    if draw(st.booleans()):
        signals = {}
        for r in ranked:
            if draw(st.booleans()):
                action = draw(st.sampled_from(list(Action)))
                confidence = draw(st.floats(min_value=0.34, max_value=1.0))
                signals[r.symbol] = signal(r.symbol, action, confidence)
    params = BlendParams(
        liq_weight=draw(st.floats(min_value=0.0, max_value=5.0)),
        model_weight=draw(st.floats(min_value=0.01, max_value=5.0)),
        sell_threshold=draw(st.floats(min_value=0.34, max_value=1.0)),
        max_per_base=draw(st.integers(min_value=0, max_value=3)),
        max_weight=draw(st.floats(min_value=0.01, max_value=1.0)),
        selection_max=draw(st.integers(min_value=1, max_value=15)),
    )
    return ranked, signals, params


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_weights_always_sum_to_one_and_respect_the_caps(
    scenario: tuple[list[Ranked], dict[str, Signal] | None, BlendParams],
) -> None:
    ranked, signals, params = scenario
    result = blend(ranked, signals, params)
    weights = result.weights
    assert weights, "a non-empty universe always selects something"
    assert sum(weights.values()) == Decimal(1)
    assert all(w > 0 for w in weights.values())
    assert len(weights) <= params.selection_max
    cap = Decimal(str(params.max_weight))
    if len(weights) * cap >= 1:
        assert result.cap_feasible
        assert all(w <= cap for w in weights.values())
    else:
        assert not result.cap_feasible
        assert max(weights.values()) - min(weights.values()) <= Decimal("1e-9")
    if params.max_per_base:
        per_base: dict[str, int] = {}
        for pick in result.picks:
            per_base[pick.base] = per_base.get(pick.base, 0) + 1
        assert max(per_base.values()) <= params.max_per_base
    if not result.strong_sell_fallback:
        assert not any(p.strong_sell for p in result.picks)
