"""Model events from the persisted facts: training runs and the active version in the registry, and the
predictor's state. Watching them (rather than hooking the trainer) also hears runs of
``ai_engine/train_and_save.py`` started from another process.

- ``model.trained``: a run completed (with its activation decision);
- ``model.refused``: a completed run was recorded but not activated, or the loader refused the active file;
- ``model.activated`` / ``model.rolled_back``: the active version changed to a newer / an older run;
- ``model.stale``: the active model became older than QT_MODEL_MAX_AGE_HOURS.

The first check only learns the current state: nothing from before the start is announced.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from backend.notify.events import Event
from backend.notify.notifier import Notifier

RECENT_RUNS = 20


class ModelEvents:
    def __init__(self, notifier: Notifier, services: dict[str, Any], clock: Callable[[], datetime]) -> None:
        self._notifier = notifier
        self._services = services
        self._clock = clock
        self._seen: set[int] | None = None
        self._active: tuple[int, str] | None = None
        self._state: str | None = None

    def check(self) -> None:
        registry = self._services.get("model_registry")
        predictor = self._services.get("predictor")
        if registry is None or predictor is None:
            return
        _, runs = registry.list_runs(limit=RECENT_RUNS, offset=0)
        completed = {run.id: run for run in runs if run.status == "completed"}
        active = registry.active_run()
        active_key = None if active is None else (active.id, active.version)
        state = predictor.state()
        if self._seen is None:  # first look: learn, announce nothing
            self._seen, self._active, self._state = set(completed), active_key, state.status
            return
        now = self._clock()
        for run_id in sorted(set(completed) - self._seen):
            self._trained(completed[run_id], now)
        self._seen |= set(completed)
        if active_key != self._active and active_key is not None:
            rolled_back = self._active is not None and active_key[0] < self._active[0]
            kind = "model.rolled_back" if rolled_back else "model.activated"
            what = "rolled back to" if rolled_back else "activated"
            self._emit(kind, f"Model {what} {active_key[1]}.", f"{kind}:{active_key[1]}:{now.isoformat()}", now)
        self._active = active_key
        if state.status != self._state and state.status in ("refused", "stale"):
            kind = f"model.{state.status}"
            text = f"Model {state.version or '?'} {state.status}: {state.reason or 'no reason given'}"
            self._emit(
                kind,
                text + " (the blend runs on liquidity alone)." if state.status == "refused" else text + ".",
                f"{kind}:{state.version}:{now.isoformat()}",
                now,
            )
        self._state = state.status

    def _trained(self, run: Any, now: datetime) -> None:
        activation = (run.metrics or {}).get("activation") or {}
        reason = activation.get("reason") or "no activation decision recorded"
        activated = bool(activation.get("activated", run.is_active))
        took = f" in {run.duration_seconds:.0f} s" if run.duration_seconds else ""
        self._emit(
            "model.trained",
            f"Model {run.version} trained{took}; {'activated' if activated else 'not activated'}: {reason}.",
            f"model.trained:{run.version}",
            now,
        )
        if not activated:
            self._emit(
                "model.refused",
                f"Model {run.version} recorded but not activated: {reason}.",
                f"model.refused:{run.version}",
                now,
            )

    def _emit(self, kind: str, text: str, key: str, now: datetime) -> None:
        self._notifier.emit_sync(Event(kind=kind, text=text, dedup_key=key, time=now))
