"""``--model walk-forward``: retrain every N days on data strictly before the segment it trades.

A predictor for the LiquidityService: at the first refresh of each segment (segments on a fixed
grid of N days from the run's first refresh) it writes the bars the backtest clock shows (only
bars closed before the segment starts: the source refuses the rest), trains on them with
ai_engine's training pipeline into a scratch registry, with the run's settings, and scores the
segment with that model through the service's Predictor. As live, a model that failed one of its
activation gates is rejected, never traded: until a first model passes, or when a retraining fails
or is rejected, the previous model (or none: the liquidity-only blend) stays in use. Each
retraining is recorded (``trainings``: its gates too) and ``warnings()`` says when any gave no model.
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

from ai_engine.gates import failed_gates
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
        self._next: datetime | None = None  # the next boundary of the grid from the first refresh
        # when, version, status (used | rejected | failed), gates, the reason or error (metrics.json's "trainings")
        self.trainings: list[dict[str, Any]] = []

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

    def _due(self, now: datetime) -> bool:
        """Whether a segment starts now: the grid's boundaries are the first refresh plus k × N days
        (not the refresh that retrained plus N days, which drifts by up to a refresh every segment);
        a refresh past several boundaries retrains once."""
        if self._next is not None and now < self._next:
            return False
        self._next = (now if self._next is None else self._next) + self._every
        while self._next <= now:
            self._next += self._every
        return True

    def _maybe_retrain(self) -> None:
        now = self._clock()
        if not self._due(now):
            return
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
            entry["version"] = outcome.run.version
            entry["gates"] = gate_results(outcome.run.metrics)
            failed = failed_gates(outcome.run.metrics) or []
            if failed:  # rejected, as a live challenger that fails a gate: never traded
                entry["status"] = "rejected"
                entry["reason"] = "; ".join(
                    f"{g['name']}: {g['reason']}" for g in entry["gates"]["results"] if not g["passed"]
                )
            else:
                self._current = pinned_predictor(self._registry, outcome.run.version, self._settings, self._clock)
                entry["status"] = "used"
        except Exception as exc:  # too little history yet, or a model the predictor refuses
            entry["status"] = "failed"
            entry["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if entry["status"] != "used":
            why = entry.get("reason") or entry.get("error")
            log.warning(
                "walk-forward retraining at %s %s, the previous model stays: %s", entry["time"], entry["status"], why
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

    def warnings(self) -> list[str]:
        """The run's warning when retrainings gave no model to trade (failed, or rejected by a gate)."""
        return training_warnings(self.trainings)

    def predict(self, klines_by_symbol: Mapping[str, Sequence[Kline]]) -> Mapping[str, Signal]:
        if self._current is None:
            return {}
        return self._current.predict(klines_by_symbol)

    def close(self) -> None:
        """Dispose of the scratch registry and remove its folder (the segments' bars and models)."""
        self._engine.dispose()
        shutil.rmtree(self._folder, ignore_errors=True)


def gate_results(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """A training run's recorded gates, for ``trainings``: passed, the failed ones, each gate's verdict
    and reason (not its details: the economic gate's per-fold figures stay in the run), the skipped."""
    gates = (metrics or {}).get("gates") or {}
    return {
        "passed": bool(gates.get("passed")),
        "failed": list(gates.get("failed") or []),
        "results": [{k: g.get(k) for k in ("name", "passed", "reason")} for g in gates.get("gates") or []],
        "skipped": dict(gates.get("skipped") or {}),
    }


def training_warnings(trainings: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line when any retraining gave no model to trade: how many failed or were rejected by a
    gate, the first one's reason, and whether the run then traded without any model."""
    unused = [t for t in trainings if t.get("status") != "used"]
    if not unused:
        return []
    failed = sum(1 for t in unused if t.get("status") == "failed")
    counts = ", ".join(
        f"{n} {word}" for n, word in ((failed, "failed"), (len(unused) - failed, "rejected by a gate")) if n
    )
    first = unused[0]
    why = first.get("reason") or first.get("error")
    if len(unused) == len(trainings):
        outcome = "no model was ever used: the strategy traded the liquidity-only blend throughout"
    else:
        outcome = "the previous model (or none, before the first) stayed in use"
    return [
        f"walk-forward: {len(unused)} of {len(trainings)} retrainings gave no model to trade ({counts}); {outcome};"
        f" the first, at {first.get('time')}: {why} (every retraining is in metrics.json's trainings)"
    ]
