"""The `model-retrain` and `model-shadow` jobs: start a challenger in a worker process when one is
due; record a shadowing challenger's predictions on live bars and decide its fate (ai_engine.retrain)."""

from __future__ import annotations

from ai_engine.retrain import RetrainService
from backend.scheduler.runner import JobResult, RunStatus

RETRAIN_JOB_ID = "model-retrain"
SHADOW_JOB_ID = "model-shadow"


async def retrain(service: RetrainService) -> JobResult:
    return JobResult(status=RunStatus.OK, details=await service.retrain())


async def shadow(service: RetrainService) -> JobResult:
    return JobResult(status=RunStatus.OK, details=await service.shadow())
