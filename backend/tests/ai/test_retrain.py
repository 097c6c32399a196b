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


def shadow_until_decided(client: TestClient, clock: Clock) -> dict[str, Any]:
    """Move the service clock bar by bar; the model-shadow job records each closed bar, then decides."""
    cycle = wait_for(lambda: (c := cycle_of(client)) and c["status"] != "training" and c, "the challenger judged")
    assert cycle["status"] == "shadowing", cycle
    health = client.get("/health").json()["model"]["challenger"]
    assert health["status"] == "shadowing"
    assert health["challenger_version"] == cycle["challenger_version"]
    for _ in range(SHADOW_BARS + 6):
        clock.now += timedelta(hours=1)
        seen = cycle_of(client)
        assert seen is not None
        if seen["status"] != "shadowing":
            return seen
        before = seen["bars_recorded"] or 0
        wait_for(
            lambda before=before: (c := cycle_of(client)) and ((c["bars_recorded"] or 0) > before or c["status"] != "shadowing"),
            "the next live bar recorded",
        )
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
