"""``--model walk-forward``: retrain every N days on data strictly before the segment it trades.

A predictor for the LiquidityService: at the first refresh of each segment it writes the bars the
backtest clock shows (only bars closed before the segment starts: the source refuses the rest),
trains on them with ai_engine's training pipeline into a scratch registry, and scores the segment
with that model through the service's Predictor. Until a first model exists, or when a retraining
fails, the previous model (or none: the liquidity-only blend) stays in use.
"""

from __future__ import annotations

import gc
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ai_engine.predictor import Predictor
from ai_engine.registry import ModelRegistry
from ai_engine.signal import Signal
from ai_engine.training import ActivationPolicy, TrainingRequest, train
from backend.backtest.clock import BacktestClock
from backend.backtest.data import BacktestData
from backend.backtest.model import pinned_predictor
from backend.backtest.scratch import scratch_engine
from backend.market.source import to_ms
from backend.market.types import Kline
from config.runtime import SettingsHolder

log = logging.getLogger(__name__)
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
MAX_BARS = 1_000_000
PAGE = 1_000  # bars a klines request answers at most (Binance's limit; the simulated market's)


class WalkForwardPredictor:
    label = "walk-forward"

    def __init__(self, data: BacktestData, clock: BacktestClock, settings: SettingsHolder, retrain_days: int) -> None:
        if retrain_days < 1:
            raise ValueError("--retrain-days must be at least 1")
        self._data = data
        self._clock = clock
        self._settings = settings
        self._every = timedelta(days=retrain_days)
        self.retrain_days = retrain_days
        self._folder = Path(tempfile.mkdtemp(prefix="qt-walk-forward-"))
        self._engine, sessions = scratch_engine()
        self._registry = ModelRegistry(self._folder / "artifacts", sessions, clock=clock)
        self._current: Predictor | None = None
        self._next: datetime | None = None
        self.trainings: list[dict[str, Any]] = []  # when, version or error (metrics.json's "trainings")

    def _history(self, symbol: str) -> list[Kline]:
        """Every bar of the symbol closed by now, oldest first, paged as a Binance client pages:
        sources answer at most PAGE bars a request (the simulated market and Binance: 1,000)."""
        source, interval = self._data.source, self._data.interval
        out: list[Kline] = []
        start = EARLIEST
        while len(out) < MAX_BARS:
            page = source.klines(symbol, interval, start=start, limit=PAGE)
            out.extend(page)
            if len(page) < PAGE:
                break
            start = page[-1].open_time + self._data.step
        return out

    def _bars_until_now(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for symbol in self._data.symbols:
            bars = self._history(symbol)
            lines = ["open_time,open,high,low,close,volume,quote_volume"]
            lines += [
                f"{to_ms(k.open_time)},{k.open:f},{k.high:f},{k.low:f},{k.close:f},{k.volume:f},{k.quote_volume:f}"
                for k in bars
            ]
            (folder / f"{symbol}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _maybe_retrain(self) -> None:
        now = self._clock()
        if self._next is not None and now < self._next:
            return
        self._next = now + self._every
        folder = self._folder / f"bars-{to_ms(now)}"
        self._bars_until_now(folder)
        entry: dict[str, Any] = {"time": now.isoformat()}
        request = TrainingRequest(
            source=f"replay:{folder}", interval=self._data.interval, activate=ActivationPolicy.NEVER
        )
        try:
            # in a thread of its own: training's economic gate runs backtests (each its own event
            # loop), and an event loop cannot start inside the one this backtest runs in
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="walk-forward") as pool:
                outcome = pool.submit(train, request, self._settings.current, self._registry).result()
            self._current = pinned_predictor(self._registry, outcome.run.version, self._settings, self._clock)
            entry["version"] = outcome.run.version
        except Exception as exc:  # too little history yet, or a model the predictor refuses
            entry["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.warning(
                "walk-forward retraining at %s failed, the previous model stays: %s", entry["time"], entry["error"]
            )
        self.trainings.append(entry)
        # a training's data, folds and economic-gate backtests are cyclic garbage the backtest
        # process's collector (backend.backtest.inline.tune_collector) reaches late: a year of 47
        # symbols peaked at 2.5 GB without this collection, 1.5 GB with it
        gc.collect()

    @property
    def folder(self) -> Path:
        """Where the training bars of each segment (bars-<ms>/) and the models are written."""
        return self._folder

    @property
    def active_version(self) -> str | None:
        self._maybe_retrain()
        return None if self._current is None else self._current.active_version

    def predict(self, klines_by_symbol: Mapping[str, Sequence[Kline]]) -> Mapping[str, Signal]:
        if self._current is None:
            return {}
        return self._current.predict(klines_by_symbol)

    def close(self) -> None:
        """Dispose of the scratch registry and remove its folder (the segments' bars and models)."""
        self._engine.dispose()
        shutil.rmtree(self._folder, ignore_errors=True)
