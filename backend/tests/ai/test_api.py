"""The /ai endpoints and the model's part in /health, on a running app."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ai_engine.service
from ai_engine.registry import ModelRegistry
from backend.tests.ai.conftest import TrainFn
from backend.tests.ai.factories import fast_model_settings
from backend.tests.conftest import ADMIN_HEADERS
from config.settings import Settings

ClientFor = Callable[[Settings], Any]
SettingsFactory = Callable[..., Settings]


def _audit(settings: Settings) -> list[dict[str, Any]]:
    path = Path(settings.app.admin_audit_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_model_info_without_any_model(client_for: ClientFor, ai_settings: Settings) -> None:
    body = client_for(ai_settings).get("/ai/model-info").json()
    assert body["status"] == "none"
    assert body["active_version"] is None
    assert body["latest_run"] is None


def test_model_info_shows_the_active_model_publicly(
    client_for: ClientFor, ai_settings: Settings, train_model: TrainFn
) -> None:
    outcome = train_model()
    response = client_for(ai_settings).get("/ai/model-info")  # no admin token
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "active"
    assert body["active_version"] == outcome.run.version
    assert body["sha256"] == outcome.run.sha256
    # relative to the artifacts directory: no internals in a public answer
    assert body["model_path"] == f"{outcome.run.version}/{Path(outcome.run.model_path).name}"
    assert body["classes"] == ["SELL", "HOLD", "BUY"]
    assert body["features"]
    assert body["feature_version"]
    assert body["library_versions"]["xgboost"]
    assert body["trained_at"]
    assert body["activated_at"]
    comparison = body["baseline_comparison"]
    assert comparison["model_log_loss"] == pytest.approx(outcome.report.model_log_loss)
    assert comparison["class_prior_log_loss"] == pytest.approx(outcome.report.prior_log_loss)
    assert body["metrics_summary"]["beats_class_prior"] == outcome.report.beats_class_prior
    assert body["latest_run"] is None  # the latest run is the active one
    text = response.text.lower()
    for private in ('"balances"', '"balance"', "max_daily_loss", "notional", "admin_token", "api_key"):
        assert private not in text


def test_model_info_shows_a_newer_run_that_is_not_active(
    client_for: ClientFor, ai_settings: Settings, train_model: TrainFn
) -> None:
    active = train_model(seed=1)
    newer = train_model(seed=2, activate="never")
    body = client_for(ai_settings).get("/ai/model-info").json()
    assert body["active_version"] == active.run.version
    assert body["latest_run"]["version"] == newer.run.version
    assert body["latest_run"]["is_active"] is False


def test_runs_are_admin_only_and_paginated(client_for: ClientFor, ai_settings: Settings, train_model: TrainFn) -> None:
    versions = [train_model(seed=s, activate="never").run.version for s in range(3)]
    client = client_for(ai_settings)
    assert client.get("/ai/runs").status_code == 401
    assert client.get("/ai/runs", headers={"X-Admin-Token": "wrong"}).status_code == 403
    page = client.get("/ai/runs", params={"limit": 2, "offset": 0}, headers=ADMIN_HEADERS).json()
    assert page["total"] == 3
    assert page["limit"] == 2
    assert [r["version"] for r in page["items"]] == [versions[2], versions[1]]
    rest = client.get("/ai/runs", params={"limit": 2, "offset": 2}, headers=ADMIN_HEADERS).json()
    assert [r["version"] for r in rest["items"]] == [versions[0]]
    item = rest["items"][0]
    assert item["status"] == "completed"
    assert item["dataset"]["rows"] > 0
    assert item["params"]["seed"] == 0
    assert client.get("/ai/runs", params={"limit": 0}, headers=ADMIN_HEADERS).status_code == 422


def test_activation_rolls_back_and_is_audited_before_it_applies(
    client_for: ClientFor, ai_settings: Settings, train_model: TrainFn
) -> None:
    first = train_model(seed=1)
    second = train_model(seed=2)
    client = client_for(ai_settings)
    assert client.post(f"/ai/models/{first.run.version}/activate").status_code == 401
    response = client.post(f"/ai/models/{first.run.version}/activate", headers=ADMIN_HEADERS)
    assert response.status_code == 200
    body = response.json()
    body.pop("warning")  # tested below
    assert body == {
        "previous_version": second.run.version,
        "active_version": first.run.version,
        "status": "active",
        "reason": None,
        "forced": bool(first.run.metrics and first.run.metrics["gates"]["failed"]),
        "failed_gates": (first.run.metrics or {})["gates"]["failed"],
    }
    assert client.get("/ai/model-info").json()["active_version"] == first.run.version
    predictor = client.app.state.ctx.services["predictor"]
    assert predictor.active_version == first.run.version
    [line] = [e for e in _audit(ai_settings) if e["outcome"] == "ok"]
    assert line["action"] == f"POST /ai/models/{first.run.version}/activate"
    assert line["before"] == {"active_version": second.run.version}
    assert line["after"] == {"active_version": first.run.version}


def test_activating_an_unknown_or_tampered_version_is_refused(
    client_for: ClientFor, ai_settings: Settings, train_model: TrainFn, registry: ModelRegistry
) -> None:
    good = train_model(seed=1)
    bad = train_model(seed=2, activate="never")
    path = registry.model_dir(bad.run.version) / "model.ubj"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    client = client_for(ai_settings)
    assert client.post("/ai/models/nope/activate", headers=ADMIN_HEADERS).status_code == 404
    response = client.post(f"/ai/models/{bad.run.version}/activate", headers=ADMIN_HEADERS)
    assert response.status_code == 409
    assert "sha256" in response.json()["detail"]
    assert client.get("/ai/model-info").json()["active_version"] == good.run.version
    assert [e["outcome"].split(":")[0] for e in _audit(ai_settings)] == ["refused", "refused"]


def test_a_tampered_active_model_degrades_health_while_the_service_runs_on(
    client_for: ClientFor, ai_settings: Settings, train_model: TrainFn, registry: ModelRegistry
) -> None:
    outcome = train_model()
    path = registry.model_dir(outcome.run.version) / "model.ubj"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    client = client_for(ai_settings)
    health = client.get("/health").json()
    assert health["status"] == "degraded"
    assert any(r.startswith("model: ") for r in health["reasons"])  # the kind; details in /ai/model-info
    info = client.get("/ai/model-info").json()
    assert info["status"] == "refused"
    assert "sha256" in info["reason"]
    assert client.get("/ai/runs", headers=ADMIN_HEADERS).status_code == 200  # still serving


def test_a_model_written_by_a_newer_xgboost_major_degrades_health(
    client_for: ClientFor, ai_settings: Settings, train_model: TrainFn, registry: ModelRegistry
) -> None:
    import xgboost as xgb
    from sqlalchemy import update

    from ai_engine.artifacts import sha256_file
    from database.models import ModelTrainingRun
    from database.session import make_engine

    outcome = train_model()
    # a legitimately recorded artifact (row hash matching) written by a newer XGBoost major
    manifest_path = registry.model_dir(outcome.run.version) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    newer = f"{int(xgb.__version__.split('.')[0]) + 1}.0.0"
    manifest["xgboost"] = newer
    manifest_path.write_text(json.dumps(manifest))
    engine = make_engine(ai_settings.database.effective_url)
    with engine.begin() as conn:
        conn.execute(
            update(ModelTrainingRun)
            .where(ModelTrainingRun.id == outcome.run.id)
            .values(sha256=sha256_file(manifest_path))
        )
    engine.dispose()
    client = client_for(ai_settings)
    health = client.get("/health").json()
    assert health["status"] == "degraded"
    assert any(r.startswith("model: ") for r in health["reasons"])  # public: the kind only (issue 13)
    assert f"written by XGBoost {newer}, newer than the running" in client.get("/ai/model-info").json()["reason"]


def test_training_starts_in_the_background_and_completes(
    client_for: ClientFor, make_settings: SettingsFactory, replay_dir: Path
) -> None:
    settings = make_settings(
        model=fast_model_settings(),
        market={"QT_MARKET_DATA_SOURCE": "replay", "QT_REPLAY_DIR": str(replay_dir)},
    )
    client = client_for(settings)
    response = client.post("/ai/train", json={"activate": "force", "seed": 3}, headers=ADMIN_HEADERS)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "running"
    service = client.app.state.ctx.services["model"]
    assert service.wait(timeout=120)
    runs = client.get("/ai/runs", headers=ADMIN_HEADERS).json()["items"]
    assert runs[0]["id"] == body["run_id"]
    assert runs[0]["status"] == "completed"
    assert runs[0]["dataset"]["source"] == f"replay:{replay_dir}"  # the configured market source
    info = client.get("/ai/model-info").json()
    assert info["active_version"] == body["version"]
    assert info["status"] == "active"
    [line] = _audit(settings)
    assert line["action"] == "POST /ai/train"
    assert line["outcome"] == "started"
    assert line["detail"]["seed"] == 3


def test_shutdown_stops_a_run_in_progress_and_records_it_failed(
    make_settings: SettingsFactory, replay_dir: Path, registry: ModelRegistry
) -> None:
    from fastapi.testclient import TestClient

    from backend.main import create_app

    settings = make_settings(
        model=fast_model_settings(QT_MODEL_BOOST_ROUNDS=5000),
        market={"QT_MARKET_DATA_SOURCE": "replay", "QT_REPLAY_DIR": str(replay_dir)},
    )
    with TestClient(create_app(settings)) as client:
        response = client.post("/ai/train", json={}, headers=ADMIN_HEADERS)
        assert response.status_code == 202
    run = registry.get_run(response.json()["version"])
    assert run is not None
    assert run.status == "failed"
    assert "TrainingCancelledError" in (run.error or "")


def test_a_second_training_request_while_one_runs_is_refused_with_409(
    client_for: ClientFor, ai_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    entered = threading.Event()

    def blocking_run(*_args: object, **_kwargs: object) -> None:
        entered.set()
        release.wait()

    monkeypatch.setattr(ai_engine.service, "execute_run", blocking_run)
    client = client_for(ai_settings)
    first = client.post("/ai/train", json={}, headers=ADMIN_HEADERS)
    assert first.status_code == 202
    assert entered.wait(timeout=60)
    second = client.post("/ai/train", json={}, headers=ADMIN_HEADERS)
    assert second.status_code == 409
    release.set()
    assert client.app.state.ctx.services["model"].wait(timeout=60)
    assert [e["outcome"] for e in _audit(ai_settings)] == ["started", "refused: a run is in progress"]


@pytest.mark.parametrize(
    "body",
    [
        {"source": "ftp"},
        {"source": "binance"},  # the API trains on the configured source or the klines table only
        {"source": "replay:/etc"},
        {"days": 0},
        {"days": 1001},
        {"activate": "maybe"},
        {"interval": "7m"},
        {"symbols": []},
        {"unknown": 1},
    ],
)
def test_invalid_training_requests_are_rejected(client_for: ClientFor, ai_settings: Settings, body: dict) -> None:
    response = client_for(ai_settings).post("/ai/train", json=body, headers=ADMIN_HEADERS)
    assert response.status_code == 422


def test_a_failed_background_run_is_recorded_with_its_reason(client_for: ClientFor, ai_settings: Settings) -> None:
    client = client_for(ai_settings)
    response = client.post("/ai/train", json={"source": "database"}, headers=ADMIN_HEADERS)
    assert response.status_code == 202
    assert client.app.state.ctx.services["model"].wait(timeout=60)
    [run] = client.get("/ai/runs", headers=ADMIN_HEADERS).json()["items"]
    assert run["status"] == "failed"
    assert "run the data pipeline first" in run["error"]
    assert client.get("/health").json()["status"] == "ok"  # no model is not a degradation


@pytest.mark.parametrize("beats", [True, False])
def test_activating_a_model_that_failed_its_gates_warns(
    client_for: ClientFor, ai_settings: Settings, train_model: TrainFn, beats: bool, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import create_engine, select

    from database.models.core import ModelTrainingRun

    first = train_model(seed=1)
    train_model(seed=2)
    engine = create_engine(ai_settings.database.effective_url)
    try:
        with engine.begin() as conn:
            metrics = conn.scalar(select(ModelTrainingRun.metrics).where(ModelTrainingRun.version == first.run.version))
            metrics["gates"]["failed"] = [] if beats else ["beats_class_prior"]
            conn.execute(
                ModelTrainingRun.__table__.update()
                .where(ModelTrainingRun.version == first.run.version)
                .values(metrics=metrics)
            )
    finally:
        engine.dispose()
    client = client_for(ai_settings)
    with caplog.at_level("WARNING"):
        response = client.post(f"/ai/models/{first.run.version}/activate", headers=ADMIN_HEADERS)
    assert response.status_code == 200
    warning = response.json()["warning"]
    if beats:
        assert warning is None
    else:
        assert warning.startswith(f"model {first.run.version} failed its gates (beats_class_prior)")
        assert warning in [r.getMessage() for r in caplog.records]
        [line] = [e for e in _audit(ai_settings) if e["outcome"] == "ok"]
        assert line["detail"] == warning


def test_model_info_without_an_active_model_names_the_latest_run_and_why(
    client_for: ClientFor, ai_settings: Settings, train_model: TrainFn
) -> None:
    outcome = train_model(seed=1, activate="never")
    body = client_for(ai_settings).get("/ai/model-info").json()
    assert body["status"] == "none"
    assert body["active_version"] is None
    assert body["latest_run"]["version"] == outcome.run.version
    assert body["reason"].startswith(f"no active model; the latest run is {outcome.run.version} (completed): ")
    assert "--activate never" in body["reason"] or "not activated" in body["reason"]
