"""``--model VERSION``: the service's Predictor, scoring with one recorded model version.

The Predictor loads "the active run" from its registry; here the registry answers with the run
asked for (verified and loaded by the real ModelRegistry: hash and library checks included), so
the backtest scores exactly as the service would with that version active, the sentiment feature
included (BacktestSentiment: the reading the service would hold at the clock's moment). A model
trained on bars the backtest trades has seen them: choose a version trained before --start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from ai_engine.features import sentiment_feature
from ai_engine.predictor import Predictor
from ai_engine.registry import LoadedModel, ModelRegistry, RunRecord
from backend.backtest.data import BacktestInputError
from backend.backtest.engine import run_overrides
from backend.market.sentiment import SimulatedSentiment
from backend.market.source import INTERVAL_SECONDS, interval_delta
from config.market import MarketSettings, SentimentSource
from config.runtime import SettingsHolder

if TYPE_CHECKING:
    from backend.backtest.data import BacktestData
    from backend.backtest.results import BacktestConfig
    from config.settings import Settings

DAY_SECONDS = 86_400


class BacktestSentiment:
    """The sentiment a predictor is given on the backtest clock, as the live one is given the market
    service's last reading (value / 100, stamped when published): with QT_SENTIMENT_SOURCE=simulated
    the simulated index's reading of the clock's UTC day, published at the day's start — never one
    published after the clock's moment. None with ``none``, and with ``fear_greed``: the live index
    has no history offline (and a model trained offline had none: the feature carries no weight)."""

    def __init__(self, market: MarketSettings, clock: Callable[[], datetime]) -> None:
        self._seed = market.sim_seed
        self._simulated = market.sentiment_source is SentimentSource.SIMULATED
        self._clock = clock
        self._day: int | None = None
        self._reading: pd.Series | None = None

    def __call__(self) -> pd.Series | None:
        if not self._simulated:
            return None
        now = self._clock()
        day = int(now.timestamp()) // DAY_SECONDS
        if day != self._day:  # the index changes once a day: one reading a day, not one a refresh
            reading = SimulatedSentiment(self._seed, clock=lambda: now).fetch()
            self._day, self._reading = day, sentiment_feature([(reading.as_of, reading.value)])
        return self._reading


def run_settings(settings: Settings, config: BacktestConfig, data: BacktestData) -> SettingsHolder:
    """The settings a run's model is trained and scored with: the environment's plus what the run
    sets (the data's interval as QT_MODEL_INTERVAL too, --fee-bps, --cash, the cadences), as the
    engine sets them for the run itself."""
    return SettingsHolder(settings, run_overrides(config, data, model=True))


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
    sentiment = BacktestSentiment(settings.current.market, clock)
    pinned = PinnedRegistry(registry, run)
    predictor = Predictor(pinned, settings, clock=clock, sentiment=sentiment)  # type: ignore[arg-type]
    state = predictor.reload()
    if state.status != "active":
        # a mismatch: QT_MODEL_INTERVAL is the interval of the run's bars (run_settings)
        also = " (the interval of the bars the run trades)" if state.status == "mismatch" else ""
        raise BacktestInputError(f"--model {version} is not usable: {state.reason}{also}")
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
