"""Champion and challenger: scheduled retraining in a worker process, shadowing, promotion.

``retrain()`` (the model-retrain job) starts a cycle when one is due: a worker process
(ai_engine.retrain_worker) trains a challenger on the latest data and judges it by its gates.
``shadow()`` (the model-shadow job) records, for a challenger that passed them, the champion's and
its predictions on every live bar that closes, settles each bar once its horizon has passed, and
after ``QT_MODEL_SHADOW_BARS`` settled bar times promotes the challenger only if it beat the
champion on both log loss and net return. Nothing here trades: the champion alone feeds the
blend until a promotion. Every step is recorded on the cycle row and audited.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ai_engine.cycles import (
    CANCELLED,
    FAILED,
    KEPT,
    PROMOTED,
    SHADOWING,
    TRAINING,
    CycleRecord,
    CycleStore,
)
from ai_engine.features import WARMUP_BARS
from ai_engine.predictor import Predictor
from ai_engine.registry import ActivationError, LoadedModel, ModelRefusedError, ModelRegistry
from ai_engine.runs import process_alive
from ai_engine.shadow import compare, score_new_bars, settle
from backend.market.types import Kline
from config.runtime import SettingsHolder

log = logging.getLogger(__name__)
REPOSITORY = Path(__file__).resolve().parents[1]

KlinesFn = Callable[[Sequence[str], str, int], Awaitable[Mapping[str, Sequence[Kline]]]]
AuditFn = Callable[[str, str, dict[str, Any] | None, dict[str, Any] | None, Any], None]


def cycle_view(cycle: CycleRecord | None, *, bars_recorded: int | None = None) -> dict[str, Any] | None:
    """The cycle as /ai/runs/{id}, /ai/model-info and /health show it."""
    if cycle is None:
        return None
    return {
        "cycle_id": cycle.id,
        "status": cycle.status,
        "challenger_version": cycle.challenger_version,
        "champion_version": cycle.champion_version,
        "run_id": cycle.run_id,
        "started_at": cycle.started_at,
        "finished_at": cycle.finished_at,
        "shadow_after": cycle.shadow_after,
        "shadow_bars": cycle.shadow_bars,
        "bars_recorded": bars_recorded,
        "reason": cycle.reason,
        "result": cycle.result,
        "steps": cycle.steps,
    }


class RetrainService:
    def __init__(
        self,
        registry: ModelRegistry,
        predictor: Predictor,
        store: CycleStore,
        settings: SettingsHolder,
        *,
        klines: KlinesFn,
        audit: AuditFn,
        clock: Callable[[], datetime],
        encode_settings: Callable[[], bytes],
        sentiment: Callable[[], pd.Series | None] = lambda: None,
    ) -> None:
        self.registry = registry
        self.predictor = predictor
        self.store = store
        self._settings = settings
        self._klines = klines
        self._audit = audit
        self._clock = clock
        self._encode = encode_settings
        self._sentiment = sentiment  # the readings the service held, stamped when it held them
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._challenger: LoadedModel | None = None
        self._health: dict[str, Any] | None = None

    # the model-retrain job ----------------------------------------------------------------------
    async def retrain(self) -> dict[str, Any]:
        """Start a challenger when no cycle is open and the last one started QT_MODEL_RETRAIN_HOURS ago."""
        hours = self._settings.current.model.retrain_hours
        source = self._settings.current.market.source.value
        if source == "replay":  # replay files train on their whole length, live bars included
            return {
                "action": "none",
                "reason": "retraining needs a market whose history ends at the service clock "
                "(simulated, binance): replay files would train the challenger on the bars it is to be shadowed on",
            }
        open_cycle = await asyncio.to_thread(self.store.open_cycle)
        if open_cycle is not None:
            return {"action": "none", "reason": f"cycle {open_cycle.id} is {open_cycle.status}"}
        latest = await asyncio.to_thread(self.store.latest)
        now = self._clock()
        if latest is not None and hours > 0 and now - latest.started_at < timedelta(hours=hours):
            due = latest.started_at + timedelta(hours=hours)
            return {"action": "none", "reason": f"next challenger due at {due.isoformat()}"}
        champion = self.predictor.state().version
        cycle = await asyncio.to_thread(self.store.create, champion)
        try:
            process = await asyncio.to_thread(self._spawn, cycle.id, now)
        except Exception as exc:
            await asyncio.to_thread(self.store.transition, cycle.id, FAILED, f"worker not started: {exc}")
            raise
        self._process = process
        self._audit_step("model.retrain.started", "ok", None, {"cycle_id": cycle.id, "champion": champion}, None)
        self._watcher = asyncio.create_task(self._watch(cycle.id, process), name=f"model-retrain-{cycle.id}")
        await asyncio.to_thread(self.refresh_health)
        return {"action": "started", "cycle_id": cycle.id, "worker_pid": process.pid, "champion": champion}

    def _spawn(self, cycle_id: int, now: datetime) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "ai_engine.retrain_worker", str(cycle_id), now.isoformat()],
            cwd=REPOSITORY,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        if process.stdin is not None:
            process.stdin.write(self._encode())
            process.stdin.close()
        return process

    async def _watch(self, cycle_id: int, process: subprocess.Popen[bytes]) -> None:
        """Reap the worker, fail a cycle it left training, audit and apply what it decided."""
        try:
            err = await asyncio.to_thread(_drain, process)
        finally:
            if self._process is process:
                self._process = None
        last = (err or b"").decode(errors="replace").strip().splitlines()
        words = last[-1] if last else "no output"
        cycle = await asyncio.to_thread(
            self.store.transition,
            cycle_id,
            FAILED,
            f"worker exited with status {process.returncode} before judging the challenger: {words}",
            expect=[TRAINING],
        )
        if cycle is not None and cycle.run_id is not None:  # a killed worker leaves its run 'running'
            run = await asyncio.to_thread(self.registry.get_run_by_id, cycle.run_id)
            if run is not None and run.status == "running":
                await asyncio.to_thread(self.registry.fail_run, run.id, f"interrupted: {cycle.reason}")
        cycle = cycle or await asyncio.to_thread(self.store.get, cycle_id)
        if cycle is None:
            return
        if cycle.status == PROMOTED:
            await asyncio.to_thread(self.predictor.reload)
        outcome = "ok" if cycle.status != FAILED else "failed"
        self._audit_step(
            f"model.challenger.{cycle.status}",
            outcome,
            {"active_version": cycle.champion_version},
            {"cycle_id": cycle.id, "challenger": cycle.challenger_version, "status": cycle.status},
            cycle.reason,
        )
        await asyncio.to_thread(self.refresh_health)
        log.info("challenger judged", extra={"cycle": cycle.id, "status": cycle.status, "reason": cycle.reason})

    @property
    def training(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # the model-shadow job -----------------------------------------------------------------------
    async def shadow(self) -> dict[str, Any]:
        """Record the shadowing challenger's predictions on the bars that closed; decide when enough settled."""
        cycle = await asyncio.to_thread(self.store.open_cycle)
        if cycle is None or cycle.status != SHADOWING:
            return {"action": "none", "reason": "no challenger is shadowing"}
        state = self.predictor.state()
        if state.version != cycle.champion_version:
            reason = f"the champion changed from {cycle.champion_version} to {state.version} while shadowing"
            await self._decide(cycle, CANCELLED, reason, None)
            return {"action": CANCELLED, "cycle_id": cycle.id, "reason": reason}
        try:
            challenger = await asyncio.to_thread(self._load_challenger, cycle)
        except ModelRefusedError as exc:
            await self._decide(cycle, CANCELLED, f"the challenger cannot be loaded any more: {exc}", None)
            return {"action": CANCELLED, "cycle_id": cycle.id, "reason": str(exc)}
        meta = challenger.metadata
        interval, horizon = str(meta.get("interval")), int(meta.get("horizon_bars") or 1)
        symbols = list((meta.get("data") or {}).get("symbols") or [])
        target = int(cycle.shadow_bars or self._settings.current.model.shadow_bars)
        limit = min(1000, WARMUP_BARS + target + horizon + 2)
        klines = await self._klines(symbols, interval, limit)
        now = self._clock()
        recorded = await asyncio.to_thread(self.store.last_recorded, cycle.id)
        seen = await asyncio.to_thread(self.store.bar_times, cycle.id)
        rows = score_new_bars(
            challenger,
            state.model,
            klines,
            after=cycle.shadow_after or cycle.started_at,
            recorded=recorded,
            now=now,
            max_bar_times=target - seen,
            sentiment=self._sentiment(),  # each bar gets the reading held at its close, as served
        )
        added = await asyncio.to_thread(self.store.add_predictions, cycle.id, rows)
        pending = await asyncio.to_thread(self.store.predictions, cycle.id, pending_only=True)
        threshold = float(meta.get("label_threshold") or self._settings.current.model.label_threshold)
        outcomes = settle(pending, klines, interval=interval, horizon=horizon, threshold=threshold, now=now)
        await asyncio.to_thread(self.store.set_outcomes, outcomes)
        everything = [row for _id, row in await asyncio.to_thread(self.store.predictions, cycle.id)]
        settled = {r.open_time for r in everything if r.forward_return is not None}
        details: dict[str, Any] = {
            "action": "recorded",
            "cycle_id": cycle.id,
            "challenger": cycle.challenger_version,
            "recorded": added,
            "settled": len(outcomes),
            "bar_times_recorded": len({r.open_time for r in everything}),
            "bar_times_settled": len(settled),
            "shadow_bars": target,
        }
        if len(settled) >= target and all(r.forward_return is not None for r in everything):
            fee = float(self._settings.current.execution.paper_fee_bps)
            result = compare(everything, fee_bps=fee)
            status = PROMOTED if result["wins"] else KEPT
            await self._decide(cycle, status, str(result["reason"]), result)
            details.update(action=status, reason=result["reason"])
        await asyncio.to_thread(self.refresh_health)
        return details

    def _load_challenger(self, cycle: CycleRecord) -> LoadedModel:
        cached = self._challenger
        if cached is not None and cached.version == cycle.challenger_version:
            return cached
        run = self.registry.get_run(str(cycle.challenger_version))
        if run is None:
            raise ModelRefusedError(f"challenger {cycle.challenger_version} has no run row")
        model = self.registry.load(run)
        model.booster.set_param({"nthread": 1})  # small batches, as the live predictor scores them
        self._challenger = model
        return model

    async def _decide(self, cycle: CycleRecord, status: str, reason: str, result: dict[str, Any] | None) -> None:
        before = {"active_version": cycle.champion_version}
        if status == PROMOTED:
            try:
                await asyncio.to_thread(self.registry.activate, str(cycle.challenger_version))
            except ActivationError as exc:
                status, reason = KEPT, f"the challenger won but could not be activated ({exc}); {reason}"
            else:
                await asyncio.to_thread(self.predictor.reload)
        after = {"active_version": cycle.challenger_version if status == PROMOTED else cycle.champion_version}
        done = await asyncio.to_thread(
            self.store.transition, cycle.id, status, reason, expect=[SHADOWING], result=result
        )
        self._challenger = None
        await asyncio.to_thread(self.refresh_health)
        if done is not None:
            detail = {"cycle_id": cycle.id, "reason": reason}
            self._audit_step(f"model.challenger.{status}", "ok", before, after, detail)
            log.info("challenger decided", extra={"cycle": cycle.id, "status": status, "reason": reason})

    def fail_interrupted(self) -> int:
        """Start-up: fail the cycles left training by a worker that no longer runs."""
        failed = 0
        for cycle in self.store.list(limit=5):
            if cycle.status == TRAINING and not process_alive(cycle.worker_pid):
                why = f"interrupted: the worker ({cycle.worker_pid}) stopped before judging the challenger"
                if self.store.transition(cycle.id, FAILED, why, expect=[TRAINING]) is not None:
                    failed += 1
        return failed

    # reading ------------------------------------------------------------------------------------
    def view_for_run(self, run_id: int) -> dict[str, Any] | None:
        cycle = self.store.for_run(run_id)
        return cycle_view(cycle, bars_recorded=self.store.bar_times(cycle.id) if cycle else None)

    def latest_view(self) -> dict[str, Any] | None:
        cycle = self.store.latest()
        return cycle_view(cycle, bars_recorded=self.store.bar_times(cycle.id) if cycle else None)

    def health(self) -> dict[str, Any] | None:
        """The challenger block of /health while one trains or shadows (None otherwise); in memory,
        refreshed by every step of the jobs, so /health reads no table."""
        return self._health

    def refresh_health(self) -> dict[str, Any] | None:
        cycle = self.store.open_cycle()
        if cycle is None:
            self._health = None
            return None
        self._health = {
            "status": cycle.status,
            "cycle_id": cycle.id,
            "challenger_version": cycle.challenger_version,
            "champion_version": cycle.champion_version,
            "bars_recorded": self.store.bar_times(cycle.id),
            "shadow_bars": cycle.shadow_bars,
        }
        return self._health

    def _audit_step(self, action: str, outcome: str, before: Any, after: Any, detail: Any) -> None:
        try:
            self._audit(action, outcome, before, after, detail)
        except Exception:  # the step is recorded on the cycle row; a full audit disk must not undo it
            log.exception("could not audit a retraining step", extra={"action": action})

    async def close(self) -> None:
        """Stop a worker still training (its cycle is failed by the watcher) and reap it."""
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
        watcher = self._watcher
        if watcher is not None and not watcher.done():
            try:
                await asyncio.wait_for(asyncio.shield(watcher), timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()


def _drain(process: subprocess.Popen[bytes]) -> bytes:
    err = process.stderr.read() if process.stderr is not None else b""
    process.wait()
    if process.stderr is not None:
        process.stderr.close()
    return err
