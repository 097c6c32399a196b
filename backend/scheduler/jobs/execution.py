"""The `execution-rebalance` job: one rebalance cycle; its counts and figures as the job's details,
and the portfolio's mark after it (portfolio_marks)."""

from __future__ import annotations

import logging

from backend.execution.marks import PortfolioMarks
from backend.execution.service import ExecutionService
from backend.scheduler.jobs.portfolio import record_mark
from backend.scheduler.runner import JobResult, RunStatus

JOB_ID = "execution-rebalance"
log = logging.getLogger(__name__)

_STATUS = {
    "ok": RunStatus.OK,
    "skipped": RunStatus.SKIPPED,
    "halted": RunStatus.DEGRADED,
    "degraded": RunStatus.DEGRADED,
    "failed": RunStatus.FAILED,
}


async def rebalance(service: ExecutionService, marks: PortfolioMarks | None = None) -> JobResult:
    report = await service.run_cycle()
    errors = dict(report.errors)
    if report.reason and report.status not in ("ok", "skipped"):
        errors.setdefault("cycle", report.reason)
    if marks is not None:
        try:
            await record_mark(service, marks, source="cycle", run_id=report.run_id, refresh=False)
        except Exception as exc:  # the cycle is done; a lost mark is reported, not raised
            log.exception("portfolio mark not recorded")
            errors["portfolio_mark"] = f"{type(exc).__name__}: {exc}"
    return JobResult(status=_STATUS.get(report.status, RunStatus.DEGRADED), errors=errors, details=report.details())
