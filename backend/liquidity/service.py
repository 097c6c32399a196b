"""The liquidity service: one refresh = market snapshot → filters → ranking → model → blend → stored run.

It is what the rest of the service uses: ``latest_selection()`` (the execution engineer rebalances
toward it) and ``current_symbols()`` (the market job keeps them warm).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from ai_engine.signal import Signal
from backend.liquidity import store
from backend.liquidity.filters import FilterOutcome, build_chain
from backend.liquidity.ranking import Ranked
from backend.liquidity.selection import Selection, filter_and_rank, select
from backend.market.types import Kline, MarketSnapshot
from backend.observability.metrics import Metrics
from config.runtime import SettingsHolder
from config.settings import Settings

log = logging.getLogger(__name__)


class MarketProvider(Protocol):
    """What the service needs from the market service (ctx.services["market"])."""

    async def snapshot(self) -> MarketSnapshot: ...


class Predictor(Protocol):
    """What the service needs from the predictor (ctx.services["predictor"]); klines(...) is optional."""

    @property
    def active_version(self) -> str | None: ...

    def predict(self, klines_by_symbol: Mapping[str, Sequence[Kline]]) -> Mapping[str, Signal]: ...


class LiquidityUnavailableError(RuntimeError):
    """A refresh cannot run now (no market service); the previous selection stays in force."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LiquidityService:
    def __init__(
        self,
        settings: SettingsHolder,
        sessions: sessionmaker[Session] | None,
        *,
        market: Callable[[], MarketProvider | None],
        predictor: Callable[[], Predictor | None] = lambda: None,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        """``sessions`` None: runs are not stored (a backtest keeps the selections it made in memory;
        storing thousands of refreshes nobody reads back was a tenth of its main thread)."""
        self._settings = settings
        self._sessions = sessions
        self._market = market
        self._predictor = predictor
        self._metrics = metrics
        self._clock = clock
        self._latest: Selection | None = None  # newest run that selected something
        self._last_run: Selection | None = None  # newest run, whatever it selected

    # what others read ---------------------------------------------------------------------------
    def latest_selection(self) -> Selection | None:
        """The selection in force: weights summing to 1 plus analytics (None before the first run)."""
        return self._latest

    def last_run(self) -> Selection | None:
        """The newest run, even one that selected nothing (its problems say why)."""
        return self._last_run

    def current_symbols(self) -> list[str]:
        latest = self._latest
        return latest.symbols if latest is not None else []

    def health_reasons(self) -> list[str]:
        run = self._last_run
        if run is None or not run.problems:
            return []
        return [f"{key}: {text}" for key, text in run.problems.items()]

    # lifecycle ----------------------------------------------------------------------------------
    def check_configuration(self) -> None:
        """Build the filter chain once, so an unusable one stops start-up (ConfigError)."""
        build_chain(self._settings.current)

    def load_latest(self) -> None:
        """Restore the selection in force from the database (blocking: call through a thread)."""
        if self._sessions is None:
            return
        self._latest = store.latest(self._sessions, with_picks=True)
        self._last_run = store.latest(self._sessions, with_picks=False)

    # a refresh ----------------------------------------------------------------------------------
    async def refresh(self) -> Selection:
        """Run one refresh now and store it; the new selection is in force when it selected anything."""
        market = self._market()
        if market is None:
            raise LiquidityUnavailableError("market service unavailable")
        settings = self._settings.current
        started = time.perf_counter()
        snapshot = await market.snapshot()
        now = self._clock()
        outcome, ranked = await asyncio.to_thread(filter_and_rank, snapshot, settings, now=now)
        signals, version, note, problems = await self._signals(market, snapshot, ranked, settings)
        computation = await asyncio.to_thread(
            select,
            snapshot,
            settings,
            now=now,
            prefiltered=(outcome, ranked),
            signals=signals,
            model_version=version,
            model_note=note,
            problems=problems,
        )
        selection = dataclasses.replace(computation.selection, duration_seconds=time.perf_counter() - started)
        if self._sessions is not None:
            run_id = await asyncio.to_thread(store.save, self._sessions, selection)
            selection = dataclasses.replace(selection, run_id=run_id)
        self._publish(selection, computation.outcome)
        return selection

    def _publish(self, selection: Selection, outcome: FilterOutcome) -> None:
        self._last_run = selection
        if selection.picks:
            self._latest = selection
        if self._metrics is not None:
            self._metrics.liquidity_eligible.set(len(outcome.eligible))
            if self._latest is not None:
                self._metrics.liquidity_selected.set(len(self._latest.picks))
        log.info(
            "liquidity refreshed",
            extra={
                "run_id": selection.run_id,
                "status": selection.status,
                "eligible": len(outcome.eligible),
                "selected": len(selection.picks),
                "mode": selection.blend_mode,
            },
        )

    async def _signals(
        self, market: MarketProvider, snapshot: MarketSnapshot, ranked: Sequence[Ranked], settings: Settings
    ) -> tuple[Mapping[str, Signal] | None, str | None, str | None, dict[str, str]]:
        """(signals or None, model version, note on the blend mode, problems)."""
        predictor = self._predictor()
        if predictor is None:
            return None, None, "no predictor: liquidity-only blend", {}
        version = predictor.active_version
        if version is None:
            reason = getattr(predictor, "reason", None)
            if reason and reason != "no active model":
                return None, None, f"model not usable ({reason}): liquidity-only blend", {}
            return None, None, "no active model: liquidity-only blend", {}
        if settings.liquidity.model_weight <= 0:
            return None, version, "QT_LIQUIDITY_MODEL_WEIGHT=0: liquidity-only blend", {}
        if not ranked:
            return {}, version, None, {}
        try:
            klines = await self._klines(market, snapshot, [r.symbol for r in ranked], settings)
            if inspect.iscoroutinefunction(predictor.predict):
                signals = await predictor.predict(klines)
            else:
                signals = await asyncio.to_thread(predictor.predict, klines)
        except Exception as exc:
            log.warning("prediction failed; liquidity-only blend", extra={"error": str(exc)})
            note = f"prediction failed ({type(exc).__name__}: {exc}): liquidity-only blend"
            return None, version, note, {"model": note}
        return dict(signals), version, None, {}

    @staticmethod
    async def _klines(
        market: Any, snapshot: MarketSnapshot, symbols: list[str], settings: Settings
    ) -> dict[str, Sequence[Kline]]:
        have: dict[str, Sequence[Kline]] = {s: snapshot.klines[s] for s in symbols if snapshot.klines.get(s)}
        missing = [s for s in symbols if s not in have]
        fetch = getattr(market, "klines", None)
        if missing and fetch is not None:
            got = fetch(missing, settings.model.interval, settings.market.history_bars)
            if inspect.isawaitable(got):
                got = await got
            have.update(got)
        return have
