"""Model registry: artifacts on disk, run rows (ai_engine.runs), activation, rollback, retention.

An artifact is ``<artifacts>/models/<version>/`` (model.ubj, metadata.json, manifest.json; see
ai_engine.artifacts), written into a temporary directory next to it and renamed into place, so a
reader never sees half a model. Loading checks the sha256 the run row recorded against the manifest
and every file, and the format's compatibility, before anything is loaded; it refuses otherwise
with a reason.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xgboost as xgb
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ai_engine.artifacts import (
    METADATA_FILE,
    MODEL_FILE,
    MODEL_FORMAT,
    ArtifactError,
    VerifiedArtifact,
    compatibility_problem,
    load_booster,
    sweep_temporary,
    verify_artifact,
    write_artifact,
)
from ai_engine.features import FEATURE_NAMES, FEATURE_VERSION
from ai_engine.runs import COMPLETED, RunRecord, RunStore, jsonable
from database.models import ModelTrainingRun
from database.session import session_scope

log = logging.getLogger(__name__)


class ModelRefusedError(Exception):
    """A model cannot be used; str(exc) is the reason shown in /health."""


class ActivationError(Exception):
    """An activation request cannot be honoured (unknown version, not completed, artifact refused)."""

    def __init__(self, reason: str, *, not_found: bool = False) -> None:
        super().__init__(reason)
        self.not_found = not_found


def _aware(value: object) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class LoadedModel:
    version: str
    booster: xgb.Booster
    metadata: dict[str, Any]
    trained_at: datetime
    sha256: str
    path: Path
    data_end: datetime | None = None  # the last bar the model was trained on
    model_format: str = MODEL_FORMAT

    @property
    def age_from(self) -> datetime:
        """What its age counts from: the older of the training time and the end of its data."""
        return min(self.trained_at, self.data_end) if self.data_end is not None else self.trained_at


class ModelRegistry(RunStore):
    def __init__(
        self,
        artifacts_dir: Path,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: str | None = None,
    ) -> None:
        self.artifacts_dir = Path(artifacts_dir)
        self.interval = interval  # QT_MODEL_INTERVAL: activation refuses a model of another interval
        self.models_dir = self.artifacts_dir / "models"
        super().__init__(sessions, clock)

    # artifacts ----------------------------------------------------------------------------------
    def model_dir(self, version: str) -> Path:
        return self.models_dir / version

    def save_artifact(self, version: str, booster: xgb.Booster, metadata: dict[str, Any]) -> tuple[Path, str]:
        """Write the artifact atomically; returns (directory, sha256 of its manifest) for the run row."""
        self.sweep_temporary()
        body = jsonable({**metadata, "version": version, "model_file": MODEL_FILE, "model_format": MODEL_FORMAT})
        return write_artifact(self.models_dir, version, booster, body)

    def sweep_temporary(self) -> list[str]:
        """Remove temporary artifact directories a crashed save left behind (start-up, before a save)."""
        removed = sweep_temporary(self.models_dir)
        if removed:
            log.warning("orphan temporary model directories removed", extra={"directories": removed})
        return removed

    def read_metadata(self, version: str) -> dict[str, Any]:
        """metadata.json as written (for display; load() and verify() check it against the manifest)."""
        path = self.model_dir(version) / METADATA_FILE
        try:
            with open(path, encoding="utf-8") as fh:
                data: dict[str, Any] = json.load(fh)
        except FileNotFoundError:
            raise ModelRefusedError(f"model {version}: {path} is missing") from None
        except (OSError, ValueError) as exc:
            raise ModelRefusedError(f"model {version}: metadata unreadable: {exc}") from exc
        return data

    def _verified(self, run: RunRecord) -> VerifiedArtifact:
        version = run.version
        if run.status != COMPLETED:
            raise ModelRefusedError(f"model {version}: run is {run.status}, not completed")
        directory = self.model_dir(version)
        try:
            artifact = verify_artifact(directory, run.sha256)
        except ArtifactError as exc:
            raise ModelRefusedError(f"model {version}: {exc}") from exc
        problem = compatibility_problem(artifact)
        if problem is not None:
            raise ModelRefusedError(f"model {version}: {problem}")
        metadata = artifact.metadata
        if metadata.get("feature_version") != FEATURE_VERSION or tuple(metadata.get("features") or ()) != FEATURE_NAMES:
            raise ModelRefusedError(
                f"model {version}: feature list v{metadata.get('feature_version')} differs from the code's "
                f"v{FEATURE_VERSION}; retrain it"
            )
        return artifact

    def verify(self, run: RunRecord) -> dict[str, Any]:
        """Every check that needs no model loading: the row's hash covers every file; returns the metadata."""
        return self._verified(run).metadata

    def load(self, run: RunRecord) -> LoadedModel:
        """Verify, then load (UBJSON, or a hash-checked Booster-only pickle). Raises ModelRefusedError."""
        artifact = self._verified(run)
        try:
            booster = load_booster(artifact)
        except ArtifactError as exc:
            raise ModelRefusedError(f"model {run.version}: {exc}") from exc
        if booster.feature_names is not None and tuple(booster.feature_names) != FEATURE_NAMES:
            raise ModelRefusedError(f"model {run.version}: the booster's feature names differ from the code's")
        metadata = artifact.metadata
        if artifact.model_format == MODEL_FORMAT:
            trained_at = _aware(metadata.get("trained_at")) or run.finished_at or run.started_at
        else:  # a legacy metadata.json is covered by no hash: the row's times are the trusted ones
            trained_at = run.finished_at or run.started_at
        data_end = _aware((metadata.get("data") or {}).get("end"))
        return LoadedModel(
            run.version,
            booster,
            metadata,
            trained_at,
            str(run.sha256),
            artifact.directory,
            data_end,
            artifact.model_format,
        )

    # activation ---------------------------------------------------------------------------------
    def check_activatable(self, version: str) -> RunRecord:
        run = self.get_run(version)
        if run is None:
            raise ActivationError(f"unknown model version {version!r}", not_found=True)
        if run.status != COMPLETED:
            raise ActivationError(f"model {version} is {run.status}; only completed runs can be activated")
        try:
            metadata = self.verify(run)
        except ModelRefusedError as exc:
            raise ActivationError(str(exc)) from exc
        trained = metadata.get("interval")
        if self.interval is not None and trained != self.interval:
            raise ActivationError(
                f"model {version} was trained on {trained} bars but QT_MODEL_INTERVAL is {self.interval}; "
                f"train a {self.interval} model or change QT_MODEL_INTERVAL"
            )
        return run

    def activate(self, version: str) -> RunRecord:
        """Make ``version`` the one active model (any completed, verifiable version: also a rollback)."""
        self.check_activatable(version)
        now = self._clock()
        try:
            with session_scope(self._sessions) as session:
                session.execute(
                    update(ModelTrainingRun)
                    .where(ModelTrainingRun.is_active.is_(True), ModelTrainingRun.version != version)
                    .values(is_active=False)
                )
                session.flush()
                row = session.scalar(select(ModelTrainingRun).where(ModelTrainingRun.version == version))
                assert row is not None  # checked above  # noqa: S101
                row.is_active = True
                row.activated_at = now
                session.flush()
                return RunRecord.of(row)
        except IntegrityError as exc:  # the one-active index: another activation committed first
            raise ActivationError(
                f"model {version} was not activated: another activation committed at the same moment; retry"
            ) from exc

    # retention ----------------------------------------------------------------------------------
    def prune(self, keep: int) -> list[str]:
        """Delete the artifacts of completed versions beyond the newest ``keep`` (never the active one)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ModelTrainingRun)
                .where(ModelTrainingRun.status == COMPLETED)
                .order_by(ModelTrainingRun.id.desc())
            ).all()
            runs = [RunRecord.of(r) for r in rows]
        removed = []
        for run in runs[keep:]:
            if run.is_active:
                continue
            directory = self.model_dir(run.version)
            if directory.exists():
                shutil.rmtree(directory)
                removed.append(run.version)
        if removed:
            log.info("pruned model artifacts", extra={"versions": removed})
        return removed
