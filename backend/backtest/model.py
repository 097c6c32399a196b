"""``--model VERSION``: the service's Predictor, scoring with one recorded model version.

The Predictor loads "the active run" from its registry; here the registry answers with the run
asked for (verified and loaded by the real ModelRegistry: hash and library checks included), so
the backtest scores exactly as the service would with that version active. A model trained on
bars the backtest trades has seen them: choose a version trained before --start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ai_engine.predictor import Predictor
from ai_engine.registry import LoadedModel, ModelRegistry, RunRecord
from backend.backtest.data import BacktestInputError
from backend.market.source import INTERVAL_SECONDS, interval_delta
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


def look_ahead_warnings(predictor: Any, start: datetime) -> list[str]:
    """A line when the model scoring the run was trained on bars that close after its first
    decision: it has seen the bars it trades, so the run is not out of sample there."""
    state = getattr(predictor, "state", None)
    model = state(start).model if callable(state) else None
    if model is None or model.data_end is None:
        return []
    interval = model.metadata.get("interval")
    closes = model.data_end + (interval_delta(interval) if interval in INTERVAL_SECONDS else timedelta(0))
    if closes <= start:
        return []
    return [
        f"model {model.version} was trained on bars up to {closes.isoformat()}, after the run's first decision at"
        f" {start.isoformat()}: it has seen the bars it trades (look-ahead); to test it out of sample, run from"
        " after its training data, or train a model on bars before --start"
    ]
