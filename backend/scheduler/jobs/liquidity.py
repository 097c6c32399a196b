"""The `liquidity-refresh` job: one universe refresh, its analytics as the job's details."""

from __future__ import annotations

from backend.liquidity.service import LiquidityService
from backend.scheduler.runner import JobResult, RunStatus

JOB_ID = "liquidity-refresh"


async def refresh_liquidity(service: LiquidityService) -> JobResult:
    selection = await service.refresh()
    return JobResult(
        status=RunStatus.DEGRADED if selection.status == "degraded" else RunStatus.OK,
        errors=dict(selection.problems),
        details={
            "run_id": selection.run_id,
            "status": selection.status,
            "selected": selection.symbols,
            "analytics": selection.analytics,
        },
    )
