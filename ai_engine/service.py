"""The model service behind /ai: model information, run history, activation and background training.

Training runs on its own thread, one at a time; a second request while one runs is refused with
TrainingBusyError (the API answers 409). Blocking methods are meant to be called off the event loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ai_engine.booster import TrainingCancelledError
from ai_engine.predictor import Predictor
from ai_engine.registry import ModelRefusedError, ModelRegistry, RunRecord
from ai_engine.training import TrainingOutcome, TrainingRequest, execute_run, start_run
from config.runtime import SettingsHolder

log = logging.getLogger(__name__)


class TrainingBusyError(RuntimeError):
    """A training run is in progress; a second one is refused, not queued."""


@dataclass(frozen=True)
class StartedRun:
    run_id: int
    version: str
    status: str


@dataclass(frozen=True)
class ModelInfo:
    status: str  # active | none | refused | stale
    reason: str | None
    active: RunRecord | None
    metadata: dict[str, Any] | None
    latest_run: RunRecord | None  # when it differs from the active one
    training_in_progress: bool
    challenger: dict[str, Any] | None = None  # the latest retraining cycle (ai_engine.retrain.cycle_view)


class ModelService:
    def __init__(
        self,
        registry: ModelRegistry,
        predictor: Predictor,
        settings: SettingsHolder,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry
        self.predictor = predictor
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.last_outcome: TrainingOutcome | None = None
        self.last_error: str | None = None
        # Set by the model component: reads retraining cycles (champion and challenger).
        self.cycles: Callable[[int | None], dict[str, Any] | None] = lambda _run_id: None

    # reading ------------------------------------------------------------------------------------
    def model_info(self) -> ModelInfo:
        state = self.predictor.state()
        active = self.registry.active_run()
        metadata = None
        if active is not None:
            try:
                metadata = self.registry.read_metadata(active.version)
            except ModelRefusedError:
                metadata = None
        latest = self.registry.latest_run()
        if latest is not None and active is not None and latest.id == active.id:
            latest = None
        return ModelInfo(
            state.status, state.reason, active, metadata, latest, self.training_in_progress, self.cycles(None)
        )

    def challenger_of(self, run_id: int) -> dict[str, Any] | None:
        """The retraining cycle a run was the challenger of (None for a run trained otherwise)."""
        return self.cycles(run_id)

    def runs(self, *, limit: int, offset: int) -> tuple[int, list[RunRecord]]:
        return self.registry.list_runs(limit=limit, offset=offset)

    def run(self, run_id: int) -> RunRecord | None:
        return self.registry.get_run_by_id(run_id)

    # activation ---------------------------------------------------------------------------------
    def check_activatable(self, version: str) -> RunRecord:
        """Raises ActivationError when ``version`` cannot be activated (nothing changes)."""
        return self.registry.check_activatable(version)

    def active_version(self) -> str | None:
        run = self.registry.active_run()
        return run.version if run else None

    def activate(self, version: str) -> RunRecord:
        """Activate (or roll back to) a completed version and load it."""
        run = self.registry.activate(version)
        self.predictor.reload()
        return run

    # training -----------------------------------------------------------------------------------
    @property
    def training_in_progress(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start_training(self, request: TrainingRequest) -> StartedRun:
        """Record a running run and train it on a background thread; TrainingBusyError while one runs."""
        if not self._lock.acquire(blocking=False):
            raise TrainingBusyError("a training run is in progress")
        try:
            settings = self._settings.current
            run, effective = start_run(request, settings, self.registry)
        except BaseException:
            self._lock.release()
            raise
        self._cancel.clear()
        thread = threading.Thread(
            target=self._train, args=(run, effective), name=f"model-training-{run.version}", daemon=True
        )
        try:
            thread.start()
        except BaseException as exc:
            self._lock.release()
            self.registry.fail_run(run.id, f"could not start the training thread: {exc}")
            raise
        self._thread = thread
        return StartedRun(run.id, run.version, run.status)

    def _progress(self, message: str) -> None:
        if self._cancel.is_set():
            raise TrainingCancelledError("the service is shutting down")
        log.info("training", extra={"progress": message})

    def _train(self, run: RunRecord, effective: dict[str, Any]) -> None:
        try:
            self.last_outcome = execute_run(
                run,
                effective,
                self._settings.current,
                self.registry,
                progress=self._progress,
                on_activated=lambda _run: self.predictor.reload(),
                stop=self._cancel.is_set,
            )
            self.last_error = None
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("training run failed", extra={"version": run.version, "error": self.last_error})
        finally:
            self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run (if any) ends; False if it is still running after ``timeout``."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask a run in progress to stop at its next step and wait for it."""
        self._cancel.set()
        return self.wait(timeout)
