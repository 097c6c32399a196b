"""The `execution-rebalance` job: one rebalance cycle; its counts and figures as the job's details."""

from __future__ import annotations

from backend.execution.service import ExecutionService
from backend.scheduler.runner import JobResult, RunStatus

JOB_ID = "execution-rebalance"

_STATUS = {
    "ok": RunStatus.OK,
    "skipped": RunStatus.SKIPPED,
    "halted": RunStatus.DEGRADED,
    "degraded": RunStatus.DEGRADED,
    "failed": RunStatus.FAILED,
}


async def rebalance(service: ExecutionService) -> JobResult:
    report = await service.run_cycle()
    errors = dict(report.errors)
    if report.reason and report.status not in ("ok", "skipped"):
        errors.setdefault("cycle", report.reason)
    return JobResult(status=_STATUS.get(report.status, RunStatus.DEGRADED), errors=errors, details=report.details())
