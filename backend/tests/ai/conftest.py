"""Fixtures of the AI engine tests: a registry on the test database and a replay directory of bars."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ai_engine.registry import ModelRegistry
from ai_engine.training import ActivationPolicy, TrainingOutcome, TrainingRequest, train
from backend.tests.ai.factories import fast_model_settings, random_walk_bars, write_replay_dir
from config.settings import Settings
from database.session import make_engine, make_session_factory


@pytest.fixture(scope="session")
def replay_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three symbols x 700 hourly bars with some momentum (so a model can beat the prior)."""
    bars = random_walk_bars(n_symbols=3, n_bars=700, seed=11, momentum=0.3)
    return write_replay_dir(tmp_path_factory.mktemp("replay"), bars)


@pytest.fixture
def ai_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(model=fast_model_settings())


@pytest.fixture
def registry(ai_settings: Settings) -> Iterator[ModelRegistry]:
    engine = make_engine(ai_settings.database.effective_url)
    yield ModelRegistry(
        ai_settings.model.artifacts_dir, make_session_factory(engine), interval=ai_settings.model.interval
    )
    engine.dispose()


TrainFn = Callable[..., TrainingOutcome]


@pytest.fixture
def train_model(ai_settings: Settings, registry: ModelRegistry, replay_dir: Path) -> TrainFn:
    """Train on the replay bars; keyword arguments go to TrainingRequest (activate defaults to force)."""

    def run(settings: Settings | None = None, **request: object) -> TrainingOutcome:
        request.setdefault("source", f"replay:{replay_dir}")
        request.setdefault("activate", ActivationPolicy.FORCE)
        return train(TrainingRequest(**request), settings or ai_settings, registry)  # type: ignore[arg-type]

    return run
