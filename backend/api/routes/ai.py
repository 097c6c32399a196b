"""Model endpoints: public model information; admin run history, activation (rollback) and training."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from ai_engine.gates import failed_gates
from ai_engine.registry import ActivationError, RunRecord
from ai_engine.service import ModelInfo, TrainingBusyError
from ai_engine.training import ActivationPolicy, TrainingRequest
from backend.api.deps import AdminDep, CtxDep, ModelServiceDep, RecordId, WritableDep
from backend.api.links import link, linked
from backend.api.public import error_kind, public_artifact_path, public_data
from backend.api.schemas.ai import (
    ActivateResponse,
    BaselineComparison,
    ModelInfoResponse,
    RunDetail,
    RunsResponse,
    RunSummary,
    TrainAcceptedResponse,
    TrainRequest,
)
from backend.api.security import Audited, audit_or_503

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ai", tags=["ai"])


def _summary(run: RunRecord, *, detail: bool = False) -> RunSummary:
    return RunSummary(**_summary_fields(run, detail=detail))


def _public_summary(run: RunRecord) -> RunSummary:
    """A run as /ai/model-info (public) shows it: no absolute path, the kind of its error only."""
    fields = _summary_fields(run, detail=False)
    fields["model_path"] = public_artifact_path(run.model_path)
    fields["error"] = error_kind(run.error) if run.error else None
    return RunSummary(**fields)


def _summary_fields(run: RunRecord, *, detail: bool) -> dict[str, Any]:
    metrics = run.metrics or {}
    return {
        "id": run.id,
        "version": run.version,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": run.duration_seconds,
        "is_active": run.is_active,
        "activated_at": run.activated_at,
        "model_path": run.model_path,
        "sha256": run.sha256,
        "error": run.error,
        "dataset": run.dataset if detail else None,
        "params": run.params if detail else None,
        "metrics_summary": metrics.get("summary"),
        "gates": metrics.get("gates"),
        "activation": metrics.get("activation"),
    }


def _detail(run: RunRecord, challenger: dict[str, Any] | None) -> RunDetail:
    metrics = run.metrics or {}
    return RunDetail(
        **_summary_fields(run, detail=True),
        folds=list(metrics.get("folds") or []),
        oos=metrics.get("oos"),
        feature_importance=metrics.get("feature_importance"),
        challenger=challenger,
    )


def _no_active_reason(info: ModelInfo) -> str | None:
    """Without an active model, say which run is the latest and why it is not the active one."""
    run = info.latest_run
    reason = error_kind(info.reason) if info.reason else None
    if run is None:
        return reason
    activation = (run.metrics or {}).get("activation") or {}
    why = activation.get("reason") or (error_kind(run.error) if run.error else f"status {run.status}")
    return f"{reason or 'no active model'}; the latest run is {run.version} ({run.status}): {why}"


def _info(info: ModelInfo) -> ModelInfoResponse:
    latest = _public_summary(info.latest_run) if info.latest_run is not None else None
    active, meta = info.active, info.metadata or {}
    if active is None:
        return ModelInfoResponse(
            status=info.status,
            reason=_no_active_reason(info),
            training_in_progress=info.training_in_progress,
            latest_run=latest,
            challenger=info.challenger,
        )
    oos: dict[str, Any] = ((active.metrics or {}).get("oos")) or {}
    summary = (active.metrics or {}).get("summary")
    comparison = None
    if oos:
        comparison = BaselineComparison(
            model_log_loss=oos["model"]["log_loss"],
            class_prior_log_loss=oos["class_prior"]["log_loss"],
            direction_blind_log_loss=(oos.get("direction_blind") or {}).get("log_loss"),
            always_hold_log_loss=oos["always_hold"]["log_loss"],
            model_accuracy=oos["model"]["accuracy"],
            always_hold_accuracy=oos["always_hold"]["accuracy"],
            beats_class_prior=(summary or {}).get("beats_class_prior"),
            beats_direction_blind=(summary or {}).get("beats_direction_blind"),
        )
    failed = failed_gates(active.metrics)
    return ModelInfoResponse(
        status=info.status,
        reason=error_kind(info.reason) if info.reason else None,
        forced=bool(failed),
        failed_gates=failed or [],
        gates=(active.metrics or {}).get("gates"),
        active_version=active.version,
        trained_at=meta.get("trained_at") or active.finished_at,
        activated_at=active.activated_at,
        model_path=public_artifact_path(active.model_path),
        sha256=active.sha256,
        interval=meta.get("interval"),
        horizon_bars=meta.get("horizon_bars"),
        feature_version=meta.get("feature_version"),
        features=list(meta.get("features") or []),
        classes=list(meta.get("classes") or []),
        library_versions=dict(meta.get("libraries") or {}),
        data=public_data(meta.get("data") or active.dataset),
        metrics_summary=summary,
        baseline_comparison=comparison,
        training_in_progress=info.training_in_progress,
        latest_run=latest,
        challenger=info.challenger,
    )


@router.get("/model-info", response_model=ModelInfoResponse)
def get_model_info(service: ModelServiceDep) -> ModelInfoResponse:
    """The active model: version, status, metrics against the baselines, artifact, features, libraries."""
    return _info(service.model_info())


@router.get(
    "/runs",
    response_model=RunsResponse,
    responses={
        200: linked(
            "Runs, newest first.",
            GetFirstRun=link("GET", "/ai/runs/{run_id}", "The first run in full.", run_id="$response.body#/items/0/id"),
        )
    },
)
def list_runs(
    service: ModelServiceDep,
    _caller: AdminDep,
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000_000),
) -> RunsResponse:
    """Training runs, newest first (paginated)."""
    total, runs = service.runs(limit=limit, offset=offset)
    return RunsResponse(total=total, limit=limit, offset=offset, items=[_summary(r, detail=True) for r in runs])


@router.get("/runs/{run_id}", response_model=RunDetail, responses={404: {"description": "Unknown run."}})
def get_run(run_id: RecordId, service: ModelServiceDep, _caller: AdminDep) -> RunDetail:
    """One run in full: gates, per-fold metrics, pooled out-of-sample metrics, feature importance (gain)."""
    run = service.run(run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no training run {run_id}")
    return _detail(run, service.challenger_of(run.id))


@router.post(
    "/models/{version}/activate",
    response_model=ActivateResponse,
    responses={404: {"description": "Unknown version."}, 409: {"description": "The version cannot be activated."}},
)
def activate_model(
    version: str, request: Request, ctx: CtxDep, service: ModelServiceDep, caller: AdminDep, _w: WritableDep
) -> ActivateResponse:
    """Activate a completed model version (also a rollback); its artifact is verified first."""
    previous = service.active_version()
    before = {"active_version": previous}
    try:
        run = service.check_activatable(version)
    except ActivationError as exc:
        audit_or_503(ctx, request, caller, f"refused: {exc}", before=before, after=before)
        code = status.HTTP_404_NOT_FOUND if exc.not_found else status.HTTP_409_CONFLICT
        raise HTTPException(code, detail=str(exc)) from exc
    warning = _baseline_warning(run)
    if warning:
        log.warning(warning, extra={"version": version})
    with Audited(ctx, request, caller, before=before, after={"active_version": version}, detail=warning):
        try:
            service.activate(version)
        except ActivationError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    state = service.predictor.state()
    return ActivateResponse(
        previous_version=previous,
        active_version=version,
        status=state.status,
        reason=state.reason,
        forced=state.forced,
        failed_gates=list(state.failed_gates or []),
        warning=warning,
    )


def _baseline_warning(run: RunRecord) -> str | None:
    """Activating by hand is allowed (a rollback, a forced trial); a model that failed its gates says so."""
    failed = failed_gates(run.metrics)
    if not failed:
        return None
    return (
        f"model {run.version} failed its gates ({', '.join(failed)}): it did not beat its baselines; "
        "activated by hand, the universe blend now follows it"
    )


@router.post(
    "/train",
    response_model=TrainAcceptedResponse,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: linked(
            "The run started.",
            GetRun=link("GET", "/ai/runs/{run_id}", "The run's record.", run_id="$response.body#/run_id"),
            ActivateVersion=link(
                "POST", "/ai/models/{version}/activate", "Activate the run's model.", version="$response.body#/version"
            ),
        ),
        409: {"description": "A training run is in progress."},
    },
)
def train_model(
    body: TrainRequest, request: Request, ctx: CtxDep, service: ModelServiceDep, caller: AdminDep, _w: WritableDep
) -> TrainAcceptedResponse:
    """Start a training run in the background (one at a time); poll GET /ai/runs for its outcome."""
    params = body.model_dump()
    if service.training_in_progress:
        audit_or_503(ctx, request, caller, "refused: a run is in progress", detail=params)
        raise HTTPException(status.HTTP_409_CONFLICT, detail="a training run is in progress")
    request_ = TrainingRequest(
        source="database" if body.source == "database" else None,
        symbols=body.symbols,
        interval=body.interval,
        days=body.days,
        horizon=body.horizon,
        seed=body.seed,
        activate=ActivationPolicy(body.activate),
    )
    with Audited(ctx, request, caller, detail=params, outcome="started") as audit:
        try:
            started = service.start_training(request_)
        except TrainingBusyError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
        audit.after = {"run_id": started.run_id, "version": started.version}
    return TrainAcceptedResponse(run_id=started.run_id, version=started.version, status="running")
