"""The retraining worker process: ``python -m ai_engine.retrain_worker CYCLE_ID NOW`` (started by the
model-retrain job).

It trains one challenger off the service's process, so neither requests nor the trading jobs wait
for it (training is CPU-bound and would hold the GIL). The service's effective settings arrive as
JSON on stdin (the backtest worker's encoding: data, never code); ``NOW`` is the service clock's
time, the end of the training data. The run is recorded like any other (``--activate never``), then
judged here: a gate failed -> the cycle is ``rejected``; every gate passed -> ``shadowing`` (or, with
no champion to beat, activated at once: ``promoted``). The service audits the outcome when this
process exits.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ai_engine.cycles import FAILED, PROMOTED, REJECTED, SHADOWING, TRAINING, CycleStore
from ai_engine.registry import ActivationError, ModelRegistry, RunRecord
from ai_engine.training import ActivationPolicy, TrainingRequest, execute_run, start_run
from backend.backtest.worker import decode_settings
from backend.market.source import floor_time
from config.settings import Settings
from database.session import make_engine, make_session_factory

log = logging.getLogger("ai_engine.retrain_worker")


def judge(run: RunRecord, registry: ModelRegistry, store: CycleStore, cycle_id: int, shadow_bars: int) -> str:
    """Move the cycle on from ``training`` by the challenger's recorded gates; returns the new status."""
    metrics = run.metrics or {}
    gates: dict[str, Any] = metrics.get("gates") or {}
    if not gates.get("passed"):
        failed = ", ".join(gates.get("failed") or []) or "no gates recorded"
        why = "; ".join(g["reason"] for g in gates.get("gates", []) if not g.get("passed"))
        store.transition(cycle_id, REJECTED, f"challenger failed its gates ({failed}): {why}", expect=[TRAINING])
        return REJECTED
    try:
        registry.check_activatable(run.version)
    except ActivationError as exc:
        store.transition(cycle_id, REJECTED, f"challenger cannot be activated: {exc}", expect=[TRAINING])
        return REJECTED
    champion = registry.active_run()
    if champion is None:
        registry.activate(run.version)
        store.transition(
            cycle_id,
            PROMOTED,
            f"no champion to beat: {run.version} passed every gate and is active",
            expect=[TRAINING],
        )
        return PROMOTED
    data_end = (run.dataset or {}).get("end")
    after = datetime.fromisoformat(str(data_end)) if data_end else run.finished_at
    store.transition(
        cycle_id,
        SHADOWING,
        f"passed every gate; shadowing against {champion.version} for {shadow_bars} live bars",
        expect=[TRAINING],
        champion_version=champion.version,
        shadow_after=after,
        shadow_bars=shadow_bars,
    )
    return SHADOWING


def run_cycle(cycle_id: int, now: datetime, settings: Settings) -> int:
    engine = make_engine(settings.database.effective_url)
    sessions = make_session_factory(engine)
    registry = ModelRegistry(settings.model.artifacts_dir, sessions, interval=settings.model.interval)
    store = CycleStore(sessions, lambda: now)
    try:
        cycle = store.get(cycle_id)
        if cycle is None or cycle.status != TRAINING:
            print(f"retrain worker: cycle {cycle_id} is not training", file=sys.stderr)
            return 2
        store.update(cycle_id, worker_pid=os.getpid())
        try:
            run, effective = start_run(TrainingRequest(activate=ActivationPolicy.NEVER), settings, registry)
            store.update(cycle_id, run_id=run.id, challenger_version=run.version)
            # the data ends with the last bar closed by the service clock: the bar still forming is
            # neither trained on nor, later, mistaken for a live bar the challenger never saw
            closed_end = floor_time(now, str(effective["interval"])) - timedelta(milliseconds=1)
            outcome = execute_run(run, effective, settings, registry, now=closed_end)
            status = judge(outcome.run, registry, store, cycle_id, settings.model.shadow_bars)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            store.transition(cycle_id, FAILED, f"challenger training failed: {message}", expect=[TRAINING])
            print(f"retrain worker: cycle {cycle_id} failed: {message}", file=sys.stderr)
            return 1
        print(f"retrain worker: cycle {cycle_id}: {status}", file=sys.stderr)
        return 0
    finally:
        engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit():
        print("usage: python -m ai_engine.retrain_worker CYCLE_ID NOW  (settings as JSON on stdin)", file=sys.stderr)
        return 2
    try:
        now = datetime.fromisoformat(argv[1])
        settings = decode_settings(sys.stdin.buffer.read())
    except (ValueError, ValidationError) as exc:
        print(f"retrain worker: bad arguments or settings: {type(exc).__name__}", file=sys.stderr)
        return 2
    if now.tzinfo is None:
        print("retrain worker: NOW must carry a time zone", file=sys.stderr)
        return 2
    return run_cycle(int(argv[0]), now, settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
