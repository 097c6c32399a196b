"""``--model VERSION``: the service's Predictor, scoring with one recorded model version.

The Predictor loads "the active run" from its registry; here the registry answers with the run
asked for (verified and loaded by the real ModelRegistry: hash and library checks included), so
the backtest scores exactly as the service would with that version active. A model trained on
bars the backtest trades has seen them: choose a version trained before --start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ai_engine.predictor import Predictor
from ai_engine.registry import LoadedModel, ModelRegistry, RunRecord
from backend.backtest.data import BacktestInputError
from config.runtime import SettingsHolder


class PinnedRegistry:
    """A ModelRegistry view whose active run is one given version."""

    def __init__(self, registry: ModelRegistry, run: RunRecord) -> None:
        self._registry = registry
        self._run = run

    def active_run(self) -> RunRecord:
        return self._run

    def load(self, run: RunRecord) -> LoadedModel:
        return self._registry.load(run)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)


def pinned_predictor(
    registry: ModelRegistry, version: str, settings: SettingsHolder, clock: Callable[[], datetime]
) -> Predictor:
    run = registry.get_run(version)
    if run is None or run.status != "completed":
        raise BacktestInputError(f"--model {version}: no completed training run of that version")
    predictor = Predictor(PinnedRegistry(registry, run), settings, clock=clock)  # type: ignore[arg-type]
    state = predictor.reload()
    if state.status != "active":
        raise BacktestInputError(f"--model {version} is not usable: {state.reason}")
    return predictor
