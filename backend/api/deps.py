"""Dependency aliases: everything a route needs, read from app.state (tests override these)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.api.security import AdminCaller, require_admin, require_writable
from backend.context import AppContext
from backend.observability.metrics import Metrics
from backend.scheduler.runner import JobRunner
from config.runtime import SettingsHolder
from config.settings import Settings


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_settings_holder(request: Request) -> SettingsHolder:
    return get_ctx(request).settings


def get_current_settings(request: Request) -> Settings:
    return get_ctx(request).settings.current


def get_runner(request: Request) -> JobRunner:
    return get_ctx(request).runner


def get_metrics(request: Request) -> Metrics:
    return get_ctx(request).metrics


CtxDep = Annotated[AppContext, Depends(get_ctx)]
SettingsHolderDep = Annotated[SettingsHolder, Depends(get_settings_holder)]
SettingsDep = Annotated[Settings, Depends(get_current_settings)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AdminDep = Annotated[AdminCaller, Depends(require_admin)]
WritableDep = Annotated[None, Depends(require_writable)]
