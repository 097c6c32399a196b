"""Registry: atomic artifacts, run rows, verification before unpickling, activation, rollback, retention."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from ai_engine.registry import ActivationError, ModelRefusedError, ModelRegistry, sha256_file
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
    assert sorted(p.name for p in directory.iterdir()) == ["metadata.json", "model.pkl"]
    assert run.model_path == str(directory / "model.pkl")
    assert run.sha256 == sha256_file(directory / "model.pkl")
    metadata = json.loads((directory / "metadata.json").read_text())
    assert metadata["sha256"] == run.sha256
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


def test_the_loaded_model_is_the_one_trained(train_model: TrainFn, registry: ModelRegistry) -> None:
    outcome = train_model()
    run = registry.get_run(outcome.run.version)
    assert run is not None
    loaded = registry.load(run)
    assert loaded.version == run.version
    assert loaded.sha256 == run.sha256


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda d: _flip_one_byte(d / "model.pkl"), "sha256"),
        (
            lambda d: (d / "metadata.json").write_text(
                json.dumps({**json.loads((d / "metadata.json").read_text()), "libraries": {"xgboost": "1.7.6"}})
            ),
            "XGBoost 1.7.6",
        ),
        (
            lambda d: (d / "metadata.json").write_text(
                json.dumps({**json.loads((d / "metadata.json").read_text()), "feature_version": "0"})
            ),
            "feature list",
        ),
        (lambda d: (d / "model.pkl").unlink(), "missing"),
        (lambda d: (d / "metadata.json").write_text("{not json"), "metadata unreadable"),
    ],
)
def test_a_changed_artifact_is_refused_before_unpickling(
    train_model: TrainFn, registry: ModelRegistry, tamper: object, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = train_model()
    run = registry.get_run(outcome.run.version)
    assert run is not None
    tamper(registry.model_dir(run.version))  # type: ignore[operator]
    unpickled: list[object] = []
    import pickle

    monkeypatch.setattr(pickle, "load", lambda *a, **k: unpickled.append(a))
    with pytest.raises(ModelRefusedError, match=reason):
        registry.load(run)
    assert unpickled == []  # refused before anything was unpickled
    with pytest.raises(ActivationError, match=reason):
        registry.check_activatable(run.version)


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
