"""The service: a refresh from market to stored run, the model's part, and what survives a restart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from ai_engine.signal import Action
from backend.liquidity.service import LiquidityService, LiquidityUnavailableError
from backend.market.service import MarketService
from backend.market.sources.simulated import SimulatedMarket
from backend.observability.metrics import Metrics
from backend.tests.liquidity.factories import NOW, FakeMarket, FakePredictor, Sym, signal, snapshot
from config.runtime import SettingsHolder
from config.settings import Settings
from database.session import make_engine, make_session_factory

Factory = Callable[..., LiquidityService]


@pytest.fixture
def make_service(make_settings: Callable[..., Settings]) -> Any:
    engines = []

    def factory(
        market: Any = None, predictor: Any = None, *, holder: SettingsHolder | None = None, **sections: Any
    ) -> LiquidityService:
        holder = holder or SettingsHolder(make_settings(**sections))
        engine = make_engine(holder.current.database.effective_url)
        engines.append(engine)
        return LiquidityService(
            holder,
            make_session_factory(engine),
            market=lambda: market,
            predictor=lambda: predictor,
            metrics=Metrics(),
            clock=lambda: NOW,
        )

    yield factory
    for engine in engines:
        engine.dispose()


async def test_refresh_stores_the_run_and_a_restart_restores_it(make_service: Factory) -> None:
    service = make_service(FakeMarket())
    assert service.latest_selection() is None
    assert service.current_symbols() == []

    selection = await service.refresh()
    assert selection.run_id is not None
    assert service.latest_selection() == selection
    assert service.current_symbols() == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT"]

    restarted = make_service(FakeMarket())
    restarted.load_latest()
    restored = restarted.latest_selection()
    assert restored is not None
    assert restored.run_id == selection.run_id
    assert restored.weights == selection.weights  # exact Decimals on both backends
    assert sum(restored.weights.values()) == 1
    assert restored.analytics == selection.analytics
    assert restored.exclusions == selection.exclusions
    assert restored.created_at == NOW
    assert restored.picks == selection.picks


async def test_without_a_database_the_refresh_selects_the_same_and_stores_nothing(
    make_service: Factory, make_settings: Callable[..., Settings]
) -> None:
    """A backtest keeps its selections itself: a service without sessions selects exactly what a
    storing one does, and writes no row anywhere."""
    stored = await make_service(FakeMarket()).refresh()
    service = LiquidityService(SettingsHolder(make_settings()), None, market=lambda: FakeMarket(), clock=lambda: NOW)
    service.load_latest()  # nothing to restore from
    assert service.latest_selection() is None
    selection = await service.refresh()
    assert selection.run_id is None
    assert service.latest_selection() == selection
    assert selection.weights == stored.weights
    assert selection.picks == stored.picks


async def test_run_that_selects_nothing_keeps_the_previous_selection(make_service: Factory) -> None:
    market = FakeMarket()
    service = make_service(market)
    first = await service.refresh()
    market.market = snapshot([Sym("USDC")])
    empty = await service.refresh()
    assert empty.picks == ()
    assert service.last_run() == empty
    assert service.latest_selection() == first
    assert service.health_reasons() == ["selection: no symbol passed the filters; the previous selection is kept"]

    restarted = make_service(FakeMarket())
    restarted.load_latest()
    assert restarted.latest_selection() is not None
    assert restarted.latest_selection().run_id == first.run_id  # type: ignore[union-attr]
    assert restarted.last_run().run_id == empty.run_id  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("predictor", "note"),
    [
        (None, "no predictor: liquidity-only blend"),
        (FakePredictor(version=None), "no active model: liquidity-only blend"),
    ],
    ids=["no-predictor", "no-active-model"],
)
async def test_without_a_model_the_blend_is_liquidity_only_and_says_so(
    make_service: Factory, predictor: FakePredictor | None, note: str
) -> None:
    selection = await make_service(FakeMarket(), predictor).refresh()
    assert selection.status == "ok"
    assert selection.blend_mode == "liquidity_only"
    assert selection.analytics["blend"]["note"] == note
    assert selection.analytics["provider"]["model_version"] is None
    if predictor is not None:
        assert predictor.calls == []


async def test_model_weight_zero_skips_the_model(make_service: Factory) -> None:
    predictor = FakePredictor({"BTCUSDT": signal("BTCUSDT", Action.SELL, 0.9)})
    service = make_service(FakeMarket(), predictor, liquidity={"QT_LIQUIDITY_MODEL_WEIGHT": "0"})
    selection = await service.refresh()
    assert predictor.calls == []
    assert "BTCUSDT" in selection.weights
    assert selection.analytics["blend"]["note"] == "QT_LIQUIDITY_MODEL_WEIGHT=0: liquidity-only blend"


async def test_predictor_scores_the_ranked_universe_and_the_blend_uses_it(make_service: Factory) -> None:
    market = FakeMarket()
    predictor = FakePredictor(
        {"BTCUSDT": signal("BTCUSDT", Action.SELL, 0.9), "ADAUSDT": signal("ADAUSDT", Action.BUY, 0.95)}
    )
    selection = await make_service(market, predictor).refresh()
    ranked = ["ADAUSDT", "BNBUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    assert predictor.calls == [ranked]
    assert market.kline_requests == [(market.kline_requests[0][0], "1h", 200)]
    assert sorted(market.kline_requests[0][0]) == ranked
    assert selection.blend_mode == "blended"
    assert selection.model_version == "v-test"
    assert "BTCUSDT" not in selection.weights
    assert selection.symbols[0] == "ADAUSDT"


async def test_failing_predictor_degrades_to_liquidity_only(make_service: Factory) -> None:
    selection = await make_service(FakeMarket(), FakePredictor(error=True)).refresh()
    assert selection.status == "degraded"
    assert selection.blend_mode == "liquidity_only"
    assert selection.problems["model"] == ("prediction failed (RuntimeError: model exploded): liquidity-only blend")
    assert sum(selection.weights.values()) == 1


async def test_no_market_service_refuses_the_refresh(make_service: Factory) -> None:
    with pytest.raises(LiquidityUnavailableError, match="market service unavailable"):
        await make_service(None).refresh()


async def test_market_error_propagates_and_keeps_the_selection(make_service: Factory) -> None:
    market = FakeMarket()
    service = make_service(market)
    first = await service.refresh()
    market.error = ConnectionError("exchange down")
    with pytest.raises(ConnectionError):
        await service.refresh()
    assert service.latest_selection() == first


async def test_run_time_settings_apply_without_restart(
    make_settings: Callable[..., Settings], make_service: Factory
) -> None:
    holder = SettingsHolder(make_settings())
    service = make_service(FakeMarket(), holder=holder)
    assert len((await service.refresh()).picks) == 6
    holder.apply({"QT_LIQUIDITY_SELECTION_MAX": 4, "QT_LIQUIDITY_SELECTION_MIN": 2})
    assert len((await service.refresh()).picks) == 4
    holder.apply({"QT_LIQUIDITY_BLACKLIST": ["BTCUSDT"]})
    refreshed = await service.refresh()
    assert "BTCUSDT" not in refreshed.weights
    assert refreshed.exclusions["BTCUSDT"] == {"filter": "blacklist", "reason": "blacklisted"}


async def test_metrics_follow_the_latest_run(make_service: Factory) -> None:
    service = make_service(FakeMarket())
    await service.refresh()
    registry = service._metrics.registry  # type: ignore[union-attr]
    assert registry.get_sample_value("liquidity_selected_symbols") == 6
    assert registry.get_sample_value("liquidity_eligible_symbols") == 6


async def test_refresh_on_the_simulated_market_service_with_a_model(
    make_settings: Callable[..., Settings], make_service: Factory
) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    settings = make_settings()
    market = MarketService(SimulatedMarket(42, lambda: now), lambda: settings.market, lambda: now)
    predictor = FakePredictor({"BTCUSDT": signal("BTCUSDT", Action.SELL, 0.7)})
    liquidity = make_service(market, predictor, holder=SettingsHolder(settings))
    selection = await liquidity.refresh()
    assert selection.market_source == "simulated"
    assert "BTCUSDT" not in selection.weights
    assert len(selection.picks) == 10
    # the predictor got real bars for every symbol it scored
    assert len(predictor.calls) == 1
    assert len(predictor.calls[0]) == selection.analytics["ranked_count"]
    assert set(predictor.bars.values()) == {200}  # QT_MARKET_HISTORY_BARS of QT_MODEL_INTERVAL bars
