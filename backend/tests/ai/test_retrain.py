"""Champion and challenger on the simulated market, through the real scheduler: the model-retrain job
trains a challenger in a worker process, the model-shadow job records it on live bars as the
service clock moves, and the cycle ends rejected, kept or promoted — recorded, audited and shown."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ai_engine.registry import ModelRegistry
from ai_engine.training import ActivationPolicy, TrainingOutcome, TrainingRequest, train
from backend.main import create_app
from backend.tests.ai.factories import fast_model_settings
from backend.tests.conftest import ADMIN_HEADERS
from config.settings import Settings
from database.models.challenger import ModelShadowPrediction
from database.session import make_engine, make_session_factory

T0 = datetime(2024, 6, 1, 0, 0, 30, tzinfo=UTC)  # just after a bar closed
SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT"
SHADOW_BARS = 6


class Clock:
    """The service's clock, moved by the test (the simulated market shows bars up to it)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def cycle_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def build(**model: object) -> Settings:
        return make_settings(
            scheduler={
                "QUANTUM_TRADER_DISABLE_SCHEDULER": False,
                "QUANTUM_TRADER_REFRESH_SECONDS": 0,
                "QUANTUM_TRADER_LIQUIDITY_REFRESH_SECONDS": 0,
                "QUANTUM_TRADER_EXECUTION_SECONDS": 0,
                "QT_PORTFOLIO_MARK_SECONDS": 0,
            },
            model=fast_model_settings(
                **{
                    "QT_MODEL_TRAIN_SYMBOLS": SYMBOLS,
                    "QT_MODEL_TRAIN_DAYS": 20,
                    # one cycle per test: the next is due 48 service hours later
                    "QT_MODEL_RETRAIN_HOURS": 48,
                    "QT_MODEL_CYCLE_CHECK_SECONDS": 1,
                    "QT_MODEL_SHADOW_BARS": SHADOW_BARS,
                    **model,
                }
            ),
        )

    return build


@pytest.fixture
def start_service() -> Iterator[Callable[[Settings, Clock], TestClient]]:
    clients: list[TestClient] = []

    def start(settings: Settings, clock: Clock) -> TestClient:
        client = TestClient(create_app(settings, clock=clock), client=("203.0.113.7", 50000))
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        client.__exit__(None, None, None)


def champion(settings: Settings, **request: Any) -> TrainingOutcome:
    """A model trained and forced active before the service starts (the champion)."""
    engine = make_engine(settings.database.effective_url)
    try:
        registry = ModelRegistry(settings.model.artifacts_dir, make_session_factory(engine))
        return train(
            TrainingRequest(source="simulated", activate=ActivationPolicy.FORCE, **request), settings, registry, now=T0
        )
    finally:
        engine.dispose()


def cycle_of(client: TestClient) -> dict[str, Any] | None:
    challenger: dict[str, Any] | None = client.get("/ai/model-info").json()["challenger"]
    return challenger


def audit_actions(settings: Settings) -> list[dict[str, Any]]:
    path = Path(settings.app.admin_audit_path)
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if str(e["action"]).startswith("model.")]


def shadow_rows(settings: Settings) -> int:
    engine = make_engine(settings.database.effective_url)
    try:
        with make_session_factory(engine)() as session:
            return int(session.scalar(select(func.count()).select_from(ModelShadowPrediction)) or 0)
    finally:
        engine.dispose()


def horizon_bars() -> int:
    return 4  # QT_MODEL_HORIZON_BARS' default: a bar is settled 4 bars after it closed


def shadow_until_decided(client: TestClient, clock: Clock) -> dict[str, Any]:
    """Move the service clock bar by bar; the model-shadow job records each closed bar, then decides."""
    cycle = wait_for(lambda: (c := cycle_of(client)) and c["status"] != "training" and c, "the challenger judged")
    assert cycle["status"] == "shadowing", cycle
    # /health keeps the challenger in memory, refreshed by each step of the jobs
    health = wait_for(
        lambda: (h := client.get("/health").json()["model"]["challenger"]) and h["status"] == "shadowing" and h,
        "/health showing the challenger shadowing",
    )
    assert health["challenger_version"] == cycle["challenger_version"]
    for hours in range(1, SHADOW_BARS + horizon_bars() + 2):
        clock.now += timedelta(hours=1)
        # the challenger trained on the bars closed at T0; a later one closes every hour
        expected = min(hours, SHADOW_BARS)
        seen = wait_for(
            lambda expected=expected: (
                (c := cycle_of(client)) and (c["bars_recorded"] >= expected or c["status"] != "shadowing") and c
            ),
            f"{expected} live bars recorded",
        )
        if seen["status"] != "shadowing":
            return seen
    return wait_for(lambda: (c := cycle_of(client)) and c["status"] not in ("training", "shadowing") and c, "a verdict")


def test_a_challenger_that_fails_a_gate_is_never_shadowed(
    cycle_settings: Callable[..., Settings], start_service: Callable[[Settings, Clock], TestClient]
) -> None:
    settings = cycle_settings(QT_MODEL_TRAIN_DAYS=10)  # too little data: it does not beat the class prior
    incumbent = champion(settings, days=20)
    clock = Clock(T0)
    client = start_service(settings, clock)
    cycle = wait_for(lambda: (c := cycle_of(client)) and c["status"] != "training" and c, "the challenger judged")
    assert cycle["status"] == "rejected"
    assert "class_prior" in cycle["reason"]
    assert [s["status"] for s in cycle["steps"]] == ["training", "rejected"]
    for _ in range(3):  # live bars pass: the shadow job runs and records nothing
        clock.now += timedelta(hours=1)
        time.sleep(1.2)
    assert shadow_rows(settings) == 0
    info = client.get("/ai/model-info").json()
    assert info["active_version"] == incumbent.run.version
    run = client.get(f"/ai/runs/{cycle['run_id']}", headers=ADMIN_HEADERS).json()
    assert run["challenger"]["status"] == "rejected"
    assert run["is_active"] is False
    assert run["feature_importance"]
    assert client.get("/health").json()["model"]["challenger"] is None
    actions = [e["action"] for e in audit_actions(settings)]
    assert actions == ["model.retrain.started", "model.challenger.rejected"]


def test_a_shadowed_challenger_that_does_not_beat_the_champion_leaves_it_active(
    cycle_settings: Callable[..., Settings], start_service: Callable[[Settings, Clock], TestClient]
) -> None:
    settings = cycle_settings()
    incumbent = champion(settings, days=40)
    clock = Clock(T0)
    client = start_service(settings, clock)
    verdict = shadow_until_decided(client, clock)
    assert verdict["status"] == "kept", verdict["reason"]
    result = verdict["result"]
    # better calibrated, but it would have lost more money: both are required
    assert result["challenger"]["log_loss"] < result["champion"]["log_loss"]
    assert result["challenger"]["net_return_per_bar"] <= result["champion"]["net_return_per_bar"]
    assert result["bar_times"] == SHADOW_BARS
    assert shadow_rows(settings) == SHADOW_BARS * 3
    assert [s["status"] for s in verdict["steps"]] == ["training", "shadowing", "kept"]
    info = client.get("/ai/model-info").json()
    assert info["active_version"] == incumbent.run.version
    assert client.get(f"/ai/runs/{verdict['run_id']}", headers=ADMIN_HEADERS).json()["is_active"] is False
    wait_for(lambda: client.get("/health").json()["model"]["challenger"] is None, "/health without a challenger")
    actions = [e["action"] for e in audit_actions(settings)]
    assert actions == ["model.retrain.started", "model.challenger.shadowing", "model.challenger.kept"]


def test_a_challenger_that_beats_the_champion_on_live_bars_is_promoted(
    cycle_settings: Callable[..., Settings], start_service: Callable[[Settings, Clock], TestClient]
) -> None:
    settings = cycle_settings()
    # a champion trained for another label threshold: badly calibrated for the live labels (on this
    # seeded market 0.0005 loses on both counts over the 6 live bars; a change to the features or
    # the simulated market may need another value, and the verdict's own figures say why)
    incumbent = champion(cycle_settings(QT_MODEL_LABEL_THRESHOLD=0.0005))
    clock = Clock(T0)
    client = start_service(settings, clock)
    verdict = shadow_until_decided(client, clock)
    assert verdict["status"] == "promoted", verdict["reason"]
    result = verdict["result"]
    assert result["challenger"]["log_loss"] < result["champion"]["log_loss"]
    assert result["challenger"]["net_return_per_bar"] > result["champion"]["net_return_per_bar"]
    info = wait_for(
        lambda: (i := client.get("/ai/model-info").json())["active_version"] == verdict["challenger_version"] and i,
        "the challenger active",
    )
    assert info["status"] == "active"
    assert info["challenger"]["status"] == "promoted"
    assert client.get("/health").json()["model"]["version"] == verdict["challenger_version"]
    run = client.get(f"/ai/runs/{verdict['run_id']}", headers=ADMIN_HEADERS).json()
    assert run["is_active"] is True
    assert run["challenger"]["champion_version"] == incumbent.run.version
    promoted = [e for e in audit_actions(settings) if e["action"] == "model.challenger.promoted"]
    assert len(promoted) == 1
    assert promoted[0]["before"] == {"active_version": incumbent.run.version}
    assert promoted[0]["after"] == {"active_version": verdict["challenger_version"]}


async def test_a_replay_market_starts_no_challenger(make_settings: Callable[..., Settings], replay_dir: Path) -> None:
    from ai_engine.cycles import CycleStore
    from ai_engine.predictor import Predictor
    from ai_engine.retrain import RetrainService
    from config.runtime import SettingsHolder

    # replay files train on their whole length: the challenger would have seen the bars it is shadowed on
    settings = make_settings(
        market={"QT_MARKET_DATA_SOURCE": "replay", "QT_REPLAY_DIR": str(replay_dir)},
        model=fast_model_settings(QT_MODEL_RETRAIN_HOURS=1),
    )
    engine = make_engine(settings.database.effective_url)
    try:
        sessions = make_session_factory(engine)
        registry = ModelRegistry(settings.model.artifacts_dir, sessions)
        holder = SettingsHolder(settings)
        service = RetrainService(
            registry,
            Predictor(registry, holder),
            CycleStore(sessions, lambda: T0),
            holder,
            klines=lambda *_a: None,  # type: ignore[arg-type,return-value]
            audit=lambda *_a: None,
            clock=lambda: T0,
            encode_settings=lambda: b"",
        )
        details = await service.retrain()
        assert details["action"] == "none"
        assert "replay" in details["reason"]
        assert service.store.latest() is None
    finally:
        engine.dispose()
