"""The `model-refresh` job: pick up a model activated elsewhere (another replica, the CLI) and
keep the model's age and state current in /health and Prometheus."""

from __future__ import annotations

import asyncio

from ai_engine.predictor import Predictor
from backend.scheduler.runner import JobResult, RunStatus

JOB_ID = "model-refresh"


async def refresh_model(predictor: Predictor) -> JobResult:
    state = await asyncio.to_thread(predictor.refresh)
    degraded = state.status in ("refused", "stale", "mismatch")
    return JobResult(
        status=RunStatus.DEGRADED if degraded else RunStatus.OK,
        errors={"model": state.reason} if degraded and state.reason else {},
        details={"status": state.status, "version": state.version, "reason": state.reason},
    )
