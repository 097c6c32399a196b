"""Model events from the registry's runs, the active version and the predictor's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.notify.model_events import ModelEvents
from backend.tests.notify.conftest import FakeClock, ServiceFactory


@dataclass
class Run:
    id: int
    version: str
    status: str = "completed"
    is_active: bool = False
    duration_seconds: float | None = 12.0
    metrics: dict[str, Any] | None = None


@dataclass
class State:
    status: str
    version: str | None = None
    reason: str | None = None


@dataclass
class Registry:
    runs: list[Run] = field(default_factory=list)

    def list_runs(self, *, limit: int, offset: int) -> tuple[int, list[Run]]:
        newest = sorted(self.runs, key=lambda r: -r.id)[offset : offset + limit]
        return len(self.runs), newest

    def active_run(self) -> Run | None:
        return next((r for r in self.runs if r.is_active), None)


@dataclass
class Predictor:
    current: State

    def state(self) -> State:
        return self.current


def _activate(registry: Registry, run_id: int) -> None:
    for run in registry.runs:
        run.is_active = run.id == run_id


def test_trained_refused_activated_rolled_back_and_stale(make_service: ServiceFactory, clock: FakeClock) -> None:
    service = make_service()
    registry = Registry([Run(1, "v1", is_active=True)])
    predictor = Predictor(State("active", "v1"))
    watcher = ModelEvents(service.notifier, {"model_registry": registry, "predictor": predictor}, clock)
    watcher.check()  # learns v1: nothing announced
    registry.runs.append(
        Run(2, "v2", metrics={"activation": {"activated": False, "reason": "log loss 1.09 >= prior 1.08"}})
    )
    watcher.check()
    registry.runs.append(Run(3, "v3", metrics={"activation": {"activated": True, "reason": "every gate passed"}}))
    _activate(registry, 3)
    watcher.check()
    clock.advance(60)
    _activate(registry, 1)
    watcher.check()
    predictor.current = State("stale", "v1", "trained 200 h ago (QT_MODEL_MAX_AGE_HOURS=168)")
    watcher.check()
    watcher.check()
    rows = list(reversed(service.outbox.recent(limit=20)))
    assert [r["kind"] for r in rows] == [
        "model.trained",
        "model.refused",
        "model.trained",
        "model.activated",
        "model.rolled_back",
        "model.stale",
    ]
    assert "v2 trained in 12 s; not activated: log loss 1.09 >= prior 1.08" in rows[0]["text"]
    assert rows[3]["text"] == "Model activated v3."
    assert rows[4]["text"] == "Model rolled back to v1."
    assert "QT_MODEL_MAX_AGE_HOURS" in rows[5]["text"]


def test_a_refused_model_file_is_notified(make_service: ServiceFactory, clock: FakeClock) -> None:
    service = make_service()
    registry = Registry([Run(1, "v1", is_active=True)])
    predictor = Predictor(State("active", "v1"))
    watcher = ModelEvents(service.notifier, {"model_registry": registry, "predictor": predictor}, clock)
    watcher.check()
    predictor.current = State("refused", "v1", "sha256 differs from the recorded one")
    watcher.check()
    (row,) = service.outbox.recent(limit=5)
    assert row["kind"] == "model.refused"
    assert "sha256 differs" in row["text"]
