"""Dependency aliases: everything a route needs, read from app.state (tests override these).

Every dependency here is ``async def``: FastAPI runs plain ``def`` dependencies on the thread
pool, which costs more than the work they do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status

from ai_engine.predictor import Predictor
from ai_engine.service import ModelService
from backend.api.security import AdminCaller, require_admin, require_writable
from backend.context import AppContext
from backend.execution.service import ExecutionService
from backend.liquidity.service import LiquidityService
from backend.observability.metrics import Metrics
from backend.risk.guard import RiskGuard
from backend.scheduler.runner import JobRunner
from config.runtime import SettingsHolder
from config.settings import Settings


async def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_settings_holder(request: Request) -> SettingsHolder:
    ctx: AppContext = request.app.state.ctx
    return ctx.settings


async def get_current_settings(request: Request) -> Settings:
    ctx: AppContext = request.app.state.ctx
    return ctx.settings.current


async def get_runner(request: Request) -> JobRunner:
    ctx: AppContext = request.app.state.ctx
    return ctx.runner


async def get_metrics(request: Request) -> Metrics:
    ctx: AppContext = request.app.state.ctx
    return ctx.metrics


async def get_liquidity_service(request: Request) -> LiquidityService:
    ctx: AppContext = request.app.state.ctx
    service: LiquidityService | None = ctx.services.get("liquidity")
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="liquidity service not running")
    return service


async def get_predictor(request: Request) -> Predictor:
    ctx: AppContext = request.app.state.ctx
    predictor: Predictor | None = ctx.services.get("predictor")
    if predictor is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="model service not running")
    return predictor


async def get_model_service(request: Request) -> ModelService:
    ctx: AppContext = request.app.state.ctx
    service: ModelService | None = ctx.services.get("model")
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="model service not running")
    return service


async def get_risk_guard(request: Request) -> RiskGuard:
    ctx: AppContext = request.app.state.ctx
    guard: RiskGuard = ctx.services["risk_guard"]
    return guard


async def get_execution_service(request: Request) -> ExecutionService:
    ctx: AppContext = request.app.state.ctx
    service: ExecutionService | None = ctx.services.get("execution")
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="execution service not running")
    return service


CtxDep = Annotated[AppContext, Depends(get_ctx)]
SettingsHolderDep = Annotated[SettingsHolder, Depends(get_settings_holder)]
SettingsDep = Annotated[Settings, Depends(get_current_settings)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AdminDep = Annotated[AdminCaller, Depends(require_admin)]
# Record ids in paths (training, execution and backtest runs) are 32-bit integer columns on PostgreSQL:
# a larger id names no record and is refused as input (422), never sent to the database (500).
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1)]
WritableDep = Annotated[None, Depends(require_writable)]
LiquidityServiceDep = Annotated[LiquidityService, Depends(get_liquidity_service)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]
ModelServiceDep = Annotated[ModelService, Depends(get_model_service)]
RiskGuardDep = Annotated[RiskGuard, Depends(get_risk_guard)]
ExecutionServiceDep = Annotated[ExecutionService, Depends(get_execution_service)]
