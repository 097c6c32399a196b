"""The `execution-resting` job: between rebalance cycles, resting maker orders are looked up,
re-priced or finished with limit_ioc once QT_EXECUTION_MAKER_TIMEOUT_SECONDS has passed
(QT_EXECUTION_RESTING_CHECK_SECONDS; a quick no-op while nothing rests)."""

from __future__ import annotations

from backend.execution.service import ExecutionService
from backend.scheduler.runner import JobResult, RunStatus

JOB_ID = "execution-resting"


async def tend_resting(service: ExecutionService) -> JobResult:
    busy = await service.tend_resting()
    if not busy:
        return JobResult(
            status=RunStatus.SKIPPED, details={"reason": "no order rests on the book and no sliced order is working"}
        )
    return JobResult(details={"resting": dict(sorted(busy.items()))})
