"""Predictor: one batched call -> Signal per symbol, metrics, stale and refused models, reloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ai_engine.features import bars_from_klines, latest_features
from ai_engine.predictor import Predictor
from ai_engine.registry import ModelRegistry
from ai_engine.signal import Action
from backend.observability.metrics import Metrics
from backend.tests.ai.conftest import TrainFn
from backend.tests.ai.factories import klines_of, random_walk_bars
from config.runtime import SettingsHolder
from config.settings import Settings

KLINES = klines_of(random_walk_bars(n_symbols=5, n_bars=150, seed=21))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _predictor(registry: ModelRegistry, settings: Settings, clock: Clock | None = None) -> tuple[Predictor, Metrics]:
    metrics = Metrics()
    predictor = Predictor(registry, SettingsHolder(settings), metrics=metrics, clock=clock or Clock(datetime.now(UTC)))
    predictor.reload()
    return predictor, metrics


def _sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def test_scores_every_symbol_in_one_call(train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings) -> None:
    outcome = train_model()
    predictor, metrics = _predictor(registry, ai_settings)
    assert predictor.active_version == outcome.run.version
    signals = predictor.predict(KLINES)
    assert sorted(signals) == sorted(KLINES)
    for symbol, signal in signals.items():
        assert signal.symbol == symbol
        assert signal.model_version == outcome.run.version
        assert set(signal.probabilities) == {Action.SELL, Action.HOLD, Action.BUY}
        assert sum(signal.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert signal.confidence == max(signal.probabilities.values())
        assert signal.probabilities[signal.action] == signal.confidence
    assert _sample(metrics, "model_inference_duration_seconds_count") == 1
    counted = sum(_sample(metrics, "model_predictions_total", {"action": a.value}) for a in Action)
    assert counted == len(signals)
    for action in Action:
        expected = sum(1 for s in signals.values() if s.action is action)
        assert _sample(metrics, "model_predictions_total", {"action": action.value}) == expected
    assert _sample(metrics, "model_active") == 1


def test_a_prepared_feature_frame_gives_the_same_signals(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    train_model()
    predictor, _ = _predictor(registry, ai_settings)
    frame = latest_features(bars_from_klines(KLINES))
    by_frame = predictor.predict_features(frame)
    by_klines = predictor.predict(KLINES)
    assert by_frame.keys() == by_klines.keys()
    for symbol in by_frame:
        assert by_frame[symbol].probabilities == by_klines[symbol].probabilities


def test_symbols_with_short_history_get_no_signal(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    train_model()
    predictor, _ = _predictor(registry, ai_settings)
    klines = dict(KLINES)
    first, second = sorted(klines)[:2]
    klines[first] = klines[first][-20:]
    signals = predictor.predict(klines)
    assert first not in signals
    assert second in signals  # (klines of another interval: test_interval.py)


def test_without_an_active_model_there_are_no_signals_and_no_degradation(
    registry: ModelRegistry, ai_settings: Settings
) -> None:
    predictor, metrics = _predictor(registry, ai_settings)
    assert predictor.active_version is None
    assert predictor.reason == "no active model"
    assert predictor.predict(KLINES) == {}
    assert predictor.health_reasons() == []
    assert _sample(metrics, "model_active") == 0


@pytest.mark.parametrize(("age_hours", "max_age", "usable"), [(10, 24, True), (25, 24, False), (10_000, 0, True)])
def test_a_model_older_than_the_limit_is_not_used(
    train_model: TrainFn,
    registry: ModelRegistry,
    make_settings: object,
    age_hours: float,
    max_age: float,
    usable: bool,
) -> None:
    from backend.tests.ai.factories import fast_model_settings

    settings = make_settings(model=fast_model_settings(QT_MODEL_MAX_AGE_HOURS=max_age))  # type: ignore[operator]
    outcome = train_model(settings)
    # the age counts from the older of the training time and the end of the data (the test bars' end)
    data_end = datetime.fromisoformat(outcome.metadata["data"]["end"])
    clock = Clock(data_end + timedelta(hours=age_hours))
    predictor, _ = _predictor(registry, settings, clock)
    assert (predictor.active_version == outcome.run.version) is usable
    assert bool(predictor.predict(KLINES)) is usable
    if not usable:
        assert predictor.state().status == "stale"
        [reason] = predictor.health_reasons()
        assert "QT_MODEL_MAX_AGE_HOURS=24" in reason
        assert "since its training data ended" in reason


def test_a_model_trained_today_on_old_data_is_stale(
    train_model: TrainFn, registry: ModelRegistry, make_settings: object
) -> None:
    from backend.tests.ai.factories import fast_model_settings

    settings = make_settings(model=fast_model_settings(QT_MODEL_MAX_AGE_HOURS=720))  # type: ignore[operator]
    train_model(settings)  # the test bars ended in 2024
    predictor, _ = _predictor(registry, settings)
    state = predictor.state()
    assert state.status == "stale"
    assert "since its training data ended" in (state.reason or "")


def test_a_refused_model_leaves_the_reason_and_no_signals(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    outcome = train_model()
    path = registry.model_dir(outcome.run.version) / "model.ubj"
    path.write_bytes(path.read_bytes() + b"\x00")
    predictor, metrics = _predictor(registry, ai_settings)
    assert predictor.state().status == "refused"
    assert predictor.active_version is None
    assert predictor.predict(KLINES) == {}
    [reason] = predictor.health_reasons()
    assert "sha256" in reason
    assert outcome.run.version in reason
    assert _sample(metrics, "model_active") == 0


def test_refresh_picks_up_a_version_activated_by_another_process(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    first = train_model(seed=1)
    predictor, _ = _predictor(registry, ai_settings)
    second = train_model(seed=2)  # activated through the database, as a CLI run would
    assert predictor.active_version == first.run.version
    predictor.refresh()
    assert predictor.active_version == second.run.version
    probabilities = [s.probabilities[Action.BUY] for s in predictor.predict(KLINES).values()]
    assert np.isfinite(probabilities).all()


def test_the_sentiment_provider_is_read_once_per_batch(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    import pandas as pd

    train_model()
    calls: list[int] = []

    def provider() -> pd.Series:
        calls.append(1)
        return pd.Series([0.5], index=pd.DatetimeIndex([datetime(2024, 1, 1, tzinfo=UTC)]))

    predictor = Predictor(registry, SettingsHolder(ai_settings), sentiment=provider)
    predictor.reload()
    assert len(predictor.predict(KLINES)) == len(KLINES)
    assert calls == [1]


def test_a_refresh_within_the_bar_reuses_the_signals_and_a_new_bar_recomputes_them(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ai_engine.predictor as predictor_module

    train_model()
    predictor, metrics = _predictor(registry, ai_settings)
    computed: list[int] = []
    real = predictor_module.latest_feature_rows

    def counting(bars: object, *args: object, **kwargs: object) -> object:
        computed.append(len(bars.symbols))  # type: ignore[attr-defined]
        return real(bars, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(predictor_module, "latest_feature_rows", counting)
    long = klines_of(random_walk_bars(n_symbols=5, n_bars=160, seed=21))
    window = {s: ks[:150] for s, ks in long.items()}
    first = predictor.predict(window)
    again = predictor.predict({s: list(ks) for s, ks in window.items()})  # new lists, the same bars
    assert again == first
    assert computed == [5]  # the second call computed no features
    slid = {s: ks[1:151] for s, ks in long.items()}  # a new bar for every symbol
    one_more = {**window, "S000USDT": long["S000USDT"][1:151]}  # ... or for one
    assert set(predictor.predict(one_more)) == set(first)
    assert computed == [5, 1]  # only the symbol with a new bar was recomputed
    fresh, _ = _predictor(registry, ai_settings)
    assert predictor.predict(slid) == fresh.predict(slid)  # the cache never changes an answer
    assert _sample(metrics, "model_inference_duration_seconds_count") == 4


def test_kline_arrays_reuse_closed_bars_and_equal_a_full_conversion() -> None:
    from ai_engine.kline_cache import KlineArrays, _convert

    ks = next(iter(klines_of(random_walk_bars(n_symbols=1, n_bars=260, seed=3)).values()))
    cache = KlineArrays()
    cache.arrays("S", ks[:200])
    for lo, hi in ((0, 200), (1, 201), (5, 205), (40, 240), (60, 260), (10, 60)):
        stamps, values = cache.arrays("S", ks[lo:hi])
        expected = _convert(ks[lo:hi])
        np.testing.assert_array_equal(stamps, expected[0])
        np.testing.assert_array_equal(values, expected[1])


def test_kline_arrays_convert_only_the_bars_a_slid_window_has_not_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refresh every few bars slides the window by several bars: only those (and the last,
    maybe forming, bar) are converted again, not the whole window (the cache once matched only a
    window slid by one bar, so a backtest refreshing every 4 bars converted every Decimal again)."""
    import ai_engine.kline_cache as kc

    ks = next(iter(klines_of(random_walk_bars(n_symbols=1, n_bars=260, seed=4)).values()))
    converted: list[int] = []
    real = kc._convert
    monkeypatch.setattr(kc, "_convert", lambda bars: converted.append(len(bars)) or real(bars))
    cache = kc.KlineArrays()
    cache.arrays("S", ks[:200])
    for lo, hi, fresh in ((4, 204, 5), (8, 208, 5), (9, 209, 2), (9, 209, 1), (30, 230, 22), (230, 260, 30)):
        converted.clear()
        stamps, values = cache.arrays("S", ks[lo:hi])
        assert converted == [fresh], (lo, hi, converted)
        expected = real(ks[lo:hi])
        np.testing.assert_array_equal(stamps, expected[0])
        np.testing.assert_array_equal(values, expected[1])


def test_small_batches_are_scored_on_one_thread(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    import json

    train_model()
    predictor, _ = _predictor(registry, ai_settings)
    predictor.predict(KLINES)
    model = predictor.state().model
    assert model is not None
    config = json.loads(model.booster.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "1"
