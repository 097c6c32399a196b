"""Registry: atomic artifacts, run rows, verification before unpickling, activation, rollback, retention."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from sqlalchemy import update

from ai_engine.artifacts import sha256_file
from ai_engine.booster import predict_proba
from ai_engine.features import FEATURE_NAMES
from ai_engine.registry import ActivationError, ModelRefusedError, ModelRegistry
from backend.tests.ai.conftest import TrainFn
from config.settings import Settings
from database.models import ModelTrainingRun
from database.session import make_engine


def test_a_completed_run_has_an_artifact_with_metadata_and_a_matching_row(
    train_model: TrainFn, registry: ModelRegistry
) -> None:
    outcome = train_model()
    run = registry.get_run(outcome.run.version)
    assert run is not None
    assert run.status == "completed"
    assert run.is_active
    directory = registry.model_dir(run.version)
    assert sorted(p.name for p in directory.iterdir()) == ["manifest.json", "metadata.json", "model.ubj"]
    assert run.model_path == str(directory / "model.ubj")
    # the row's hash is the manifest's, and the manifest covers every other file
    assert run.sha256 == sha256_file(directory / "manifest.json")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["model_format"] == "xgboost-ubj"
    assert set(manifest["files"]) == {"model.ubj", "metadata.json"}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(directory / name)
    metadata = json.loads((directory / "metadata.json").read_text())
    for key in ("features", "feature_version", "classes", "libraries", "params", "data", "evaluation", "final"):
        assert metadata[key], key
    assert metadata["classes"] == ["SELL", "HOLD", "BUY"]
    assert metadata["data"]["source"].startswith("replay:")
    assert run.dataset is not None
    assert run.dataset["rows"] > 0
    assert run.metrics is not None
    assert "class_prior_log_loss" in run.metrics["summary"]
    assert run.duration_seconds is not None
    assert run.finished_at is not None
    assert not list(registry.models_dir.glob(".tmp-*"))  # written atomically, nothing left over


def test_the_loaded_model_is_the_one_trained_with_its_feature_names(
    train_model: TrainFn, registry: ModelRegistry
) -> None:
    outcome = train_model()
    run = registry.get_run(outcome.run.version)
    assert run is not None
    loaded = registry.load(run)
    assert loaded.version == run.version
    assert loaded.sha256 == run.sha256
    assert loaded.model_format == "xgboost-ubj"
    assert tuple(loaded.booster.feature_names or ()) == FEATURE_NAMES
    rows = np.random.default_rng(0).standard_normal((50, len(FEATURE_NAMES))).astype(np.float32)
    # identical predictions to the booster that was trained (saved and reloaded through UBJSON)
    again = registry.load(run)
    np.testing.assert_array_equal(predict_proba(loaded.booster, rows), predict_proba(again.booster, rows))


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_metadata(directory: Path, **changes: object) -> None:
    path = directory / "metadata.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda d: _flip_one_byte(d / "model.ubj"), "sha256 of model.ubj differs"),
        # the review's case: trained_at moved to 2099 defeated QT_MODEL_MAX_AGE_HOURS
        (lambda d: _edit_metadata(d, trained_at="2099-01-01T00:00:00+00:00"), "sha256 of metadata.json differs"),
        (lambda d: _edit_metadata(d, feature_version="0"), "sha256 of metadata.json differs"),
        (lambda d: (d / "model.ubj").unlink(), "missing"),
        (lambda d: (d / "manifest.json").write_text("{}"), "sha256 of manifest.json"),
        (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
    ],
)
def test_a_changed_artifact_is_refused_before_anything_is_loaded(
    train_model: TrainFn, registry: ModelRegistry, tamper: object, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = train_model()
    run = registry.get_run(outcome.run.version)
    assert run is not None
    tamper(registry.model_dir(run.version))  # type: ignore[operator]
    loaded: list[object] = []
    monkeypatch.setattr(xgb.Booster, "load_model", lambda *a, **k: loaded.append(a))
    with pytest.raises(ModelRefusedError, match=reason):
        registry.load(run)
    assert loaded == []  # refused before anything was read as a model
    with pytest.raises(ActivationError, match=reason):
        registry.check_activatable(run.version)


def test_a_row_without_a_hash_is_refused_whatever_the_files_say(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    outcome = train_model(activate="never")
    engine = make_engine(ai_settings.database.effective_url)
    with engine.begin() as conn:
        conn.execute(update(ModelTrainingRun).where(ModelTrainingRun.id == outcome.run.id).values(sha256=None))
    engine.dispose()
    with pytest.raises(ActivationError, match="records no sha256"):
        registry.activate(outcome.run.version)


def test_a_newer_xgboost_patch_or_minor_release_still_loads_the_model(
    train_model: TrainFn, registry: ModelRegistry
) -> None:
    from ai_engine.artifacts import compatibility_problem, verify_artifact

    outcome = train_model()
    artifact = verify_artifact(registry.model_dir(outcome.run.version), outcome.run.sha256)
    major, minor, *_ = xgb.__version__.split(".")
    assert compatibility_problem(artifact, running=f"{major}.{minor}.99") is None  # a patch upgrade
    assert compatibility_problem(artifact, running=f"{major}.{int(minor) + 1}.0") is None
    assert compatibility_problem(artifact, running=f"{int(major) + 1}.0.0") is None  # UBJSON reads forward
    assert "newer than the running" in (compatibility_problem(artifact, running=f"{int(major) - 1}.9.0") or "")


def _legacy_artifact(registry: ModelRegistry, url: str, outcome: object, payload: bytes | None = None) -> str:
    """Rewrite a trained artifact in the spec's old layout: model.pkl + metadata.json, row = pickle's hash."""
    run = outcome.run  # type: ignore[attr-defined]
    directory = registry.model_dir(run.version)
    loaded = registry.load(run)
    data = payload if payload is not None else pickle.dumps(loaded.booster)
    (directory / "model.pkl").write_bytes(data)
    (directory / "model.ubj").unlink()
    (directory / "manifest.json").unlink()
    digest = sha256_file(directory / "model.pkl")
    _edit_metadata(directory, sha256=digest)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(update(ModelTrainingRun).where(ModelTrainingRun.id == run.id).values(sha256=digest))
    engine.dispose()
    return str(run.version)


def test_a_legacy_pickled_artifact_loads_only_after_the_row_hash_matched(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    outcome = train_model(activate="never")
    version = _legacy_artifact(registry, ai_settings.database.effective_url, outcome)
    run = registry.get_run(version)
    assert run is not None
    loaded = registry.load(run)
    assert loaded.model_format == "pickle"
    assert loaded.trained_at == run.finished_at  # the row's time: an old metadata.json is covered by no hash
    _flip_one_byte(registry.model_dir(version) / "model.pkl")
    with pytest.raises(ModelRefusedError, match=r"sha256 of model\.pkl"):
        registry.load(run)


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_a_legacy_pickle_holding_anything_but_a_booster_is_refused_while_unpickling(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    outcome = train_model(activate="never")
    payload = pickle.dumps(_Payload())
    version = _legacy_artifact(registry, ai_settings.database.effective_url, outcome, payload=payload)
    run = registry.get_run(version)
    assert run is not None
    with pytest.raises(ModelRefusedError, match=r"references posix\.system, not only an XGBoost Booster"):
        registry.load(run)


def test_orphan_temporary_directories_are_swept(registry: ModelRegistry) -> None:
    registry.models_dir.mkdir(parents=True, exist_ok=True)
    old = registry.models_dir / ".tmp-20240101T000000Z-abcdef-x1"
    fresh = registry.models_dir / ".tmp-20240101T000000Z-abcdef-x2"
    for path in (old, fresh):
        path.mkdir()
        (path / "model.ubj").write_bytes(b"half")
    os.utime(old, (0, 0))
    assert registry.sweep_temporary() == [old.name]
    assert fresh.exists()  # a save in progress elsewhere is left alone
    assert not old.exists()


def test_rollback_activates_an_older_completed_version(train_model: TrainFn, registry: ModelRegistry) -> None:
    first = train_model(seed=1)
    second = train_model(seed=2)
    assert registry.active_run().version == second.run.version  # type: ignore[union-attr]
    registry.activate(first.run.version)
    active = registry.active_run()
    assert active is not None
    assert active.version == first.run.version
    assert [r.version for r in registry.list_runs(limit=10, offset=0)[1] if r.is_active] == [first.run.version]


def test_activation_refuses_unknown_and_failed_versions(train_model: TrainFn, registry: ModelRegistry) -> None:
    with pytest.raises(ActivationError, match="unknown model version") as excinfo:
        registry.activate("nope")
    assert excinfo.value.not_found
    failed = registry.start_run(dataset={}, params={})
    registry.fail_run(failed.id, "data problem: boom")
    with pytest.raises(ActivationError, match="failed"):
        registry.activate(failed.version)


def test_retention_keeps_the_newest_versions_and_the_active_one(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: object
) -> None:
    outcomes = [train_model(seed=s, activate="never") for s in range(3)]
    registry.activate(outcomes[0].run.version)
    removed = registry.prune(keep=1)
    assert removed == [outcomes[1].run.version]
    assert registry.model_dir(outcomes[0].run.version).exists()  # active: kept
    assert registry.model_dir(outcomes[2].run.version).exists()  # newest: kept
    with pytest.raises(ActivationError, match="missing"):
        registry.activate(outcomes[1].run.version)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(
    ("runner", "failed"),
    [
        ({"host": socket.gethostname(), "pid": "dead"}, True),  # this host, process gone
        ({"host": socket.gethostname(), "pid": os.getpid()}, False),  # still running here (a CLI run)
        ({"host": "another-replica", "pid": "dead"}, False),  # another host's run is not ours to judge
        (None, True),  # recorded before runs carried their runner
    ],
)
def test_runs_left_running_by_a_stopped_process_are_failed(
    registry: ModelRegistry, ai_settings: Settings, runner: dict[str, object] | None, failed: bool
) -> None:
    run = registry.start_run(dataset={"source": "simulated"}, params={})
    if runner is not None and runner["pid"] == "dead":
        runner = {**runner, "pid": _dead_pid()}
    engine = make_engine(ai_settings.database.effective_url)
    with engine.begin() as conn:
        conn.execute(
            update(ModelTrainingRun)
            .where(ModelTrainingRun.id == run.id)
            .values(params={"runner": runner} if runner else {})
        )
    engine.dispose()
    assert registry.fail_interrupted_runs() == int(failed)
    again = registry.get_run(run.version)
    assert again is not None
    assert again.status == ("failed" if failed else "running")
    if failed:
        assert "interrupted" in (again.error or "")


def test_runs_are_listed_newest_first_with_a_total(registry: ModelRegistry) -> None:
    versions = [registry.start_run(dataset={}, params={}).version for _ in range(5)]
    total, page = registry.list_runs(limit=2, offset=1)
    assert total == 5
    assert [r.version for r in page] == [versions[3], versions[2]]


@pytest.mark.parametrize(
    ("minutes_silent", "failed"),
    [(30, True), (2, False)],
    ids=["heartbeat-stopped", "heartbeat-fresh"],
)
def test_a_run_of_another_host_is_swept_once_its_heartbeat_stopped(
    registry: ModelRegistry, ai_settings: Settings, minutes_silent: int, failed: bool
) -> None:
    # Containers get a new host name at every restart: a host check alone never swept their runs.
    from datetime import UTC, datetime, timedelta

    run = registry.start_run(dataset={"source": "simulated"}, params={})
    engine = make_engine(ai_settings.database.effective_url)
    with engine.begin() as conn:
        conn.execute(
            update(ModelTrainingRun)
            .where(ModelTrainingRun.id == run.id)
            .values(
                params={"runner": {"host": "container-before-restart", "pid": 1}},
                heartbeat_at=datetime.now(UTC) - timedelta(minutes=minutes_silent),
            )
        )
    engine.dispose()
    assert registry.fail_interrupted_runs() == int(failed)
    again = registry.get_run(run.version)
    assert again is not None
    assert again.status == ("failed" if failed else "running")
    if failed:
        assert "no heartbeat for 30 min from container-before-restart" in (again.error or "")


def test_a_training_run_records_its_heartbeat(train_model: TrainFn, registry: ModelRegistry) -> None:
    run = registry.start_run(dataset={}, params={})
    assert registry.get_run(run.version).heartbeat_at is None  # type: ignore[union-attr]
    beat = registry.heartbeat_every(run.id, seconds=0)
    beat()
    assert registry.get_run(run.version).heartbeat_at is not None  # type: ignore[union-attr]


def test_the_database_allows_at_most_one_active_model(
    train_model: TrainFn, registry: ModelRegistry, ai_settings: Settings
) -> None:
    from sqlalchemy.exc import IntegrityError

    first = train_model(seed=1)
    second = train_model(seed=2, activate="never")
    engine = make_engine(ai_settings.database.effective_url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(update(ModelTrainingRun).where(ModelTrainingRun.id == second.run.id).values(is_active=True))
    finally:
        engine.dispose()
    assert [r.version for r in registry.list_runs(limit=10, offset=0)[1] if r.is_active] == [first.run.version]
    registry.activate(second.run.version)  # the registry switches within one transaction
    assert [r.version for r in registry.list_runs(limit=10, offset=0)[1] if r.is_active] == [second.run.version]
