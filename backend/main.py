"""The application factory and its lifespan: everything is built here and closed after it.

Run with ``uvicorn backend.main:create_app --factory`` (or ``python -m backend``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend import __version__
from backend.api.docs import docs_routes
from backend.api.errors import install_error_handlers
from backend.api.http_guard import HttpGuard
from backend.api.lean import install_lean_routes
from backend.api.routes import ROUTERS, document_error_responses
from backend.components import COMPONENTS
from backend.context import AppContext, utc_now
from backend.health import HealthProbe
from backend.observability.audit import AuditLog
from backend.observability.http import HttpMiddleware, label_plain_routes
from backend.observability.logging import configure_logging
from backend.observability.metrics import Metrics
from backend.runtime_settings import RuntimeSettingsService, load_overrides
from backend.scheduler.leader import LeaderLock
from backend.scheduler.runner import JobRunner
from backend.web.routes import web_routes
from config.app import AppSettings
from config.runtime import SettingsHolder, valid_overrides
from config.settings import Settings, load_settings
from database.schema_gate import ensure_current
from database.session import make_engine, make_session_factory

log = logging.getLogger("backend")


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """Build the FastAPI app; nothing is connected until the lifespan starts.

    ``clock`` is the trading path's time (default: the wall clock); the parity test passes the
    backtest's, so the service trades recorded bars on their own time."""
    settings = settings if settings is not None else load_settings()
    configure_logging(settings.app.log_level.value, settings.app.log_format.value)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.callback(metrics.process_exit)
            ctx = await _build_context(settings, metrics, stack, clock or utc_now)
            app.state.ctx = ctx
            for component in COMPONENTS:
                await stack.enter_async_context(component(ctx))
            # shutdown also releases the leader lock, which manual runs take even when the
            # scheduler itself is disabled
            stack.push_async_callback(ctx.runner.shutdown)
            if not settings.scheduler.disabled:
                ctx.runner.start()
            else:
                log.info("scheduler disabled (QUANTUM_TRADER_DISABLE_SCHEDULER=1)")
            # Everything built so far lives as long as the process: move it out of the cyclic
            # GC's reach so full collections scan only what requests allocate.
            gc.collect()
            gc.freeze()
            log.info(
                "service started",
                extra={"version": __version__, "env": settings.app.env.value, "read_only": ctx.read_only},
            )
            yield
            log.info("service stopping")

    app = FastAPI(
        title="Quantum Trader",
        version=__version__,
        summary="Automated spot-crypto portfolio service: universe selection, risk-guarded rebalancing.",
        lifespan=lifespan,
        # /docs is served from the installed swagger-ui-bundle package (backend.api.docs), not a CDN
        docs_url=None,
        redoc_url=None,
    )
    for router in ROUTERS:
        # Added as routes, not include_router(): FastAPI >= 0.16x wraps included routers and
        # resolves them per request, which costs ~9 us on every call (see the API benchmark).
        # Our routers carry their prefix and tags on each route, so nothing is lost.
        app.router.routes.extend(router.routes)
    app.router.routes.extend(web_routes())
    app.router.routes.extend(docs_routes(app))
    install_lean_routes(app)
    label_plain_routes(app.router.routes)
    document_error_responses(app.router.routes)
    install_error_handlers(app)
    if settings.app.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.app.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-Admin-Token", "Content-Type"],
        )
    app.add_middleware(HttpMiddleware, metrics=metrics, max_body_bytes=settings.app.max_body_bytes)
    # outermost: refuses foreign Hosts and non-JSON mutations first, sees every answer (headers, audit)
    app.add_middleware(HttpGuard, settings=lambda: _app_settings(app, settings), routes=app.router.routes)
    app.state.metrics = metrics
    return app


def _app_settings(app: FastAPI, settings: Settings) -> AppSettings:
    ctx: AppContext | None = getattr(app.state, "ctx", None)
    return ctx.settings.current.app if ctx is not None else settings.app


async def _build_context(
    settings: Settings, metrics: Metrics, stack: AsyncExitStack, clock: Callable[[], datetime]
) -> AppContext:
    db = settings.database
    engine = make_engine(db.effective_url, read_only=db.read_only, busy_timeout_ms=db.busy_timeout_ms)
    stack.callback(engine.dispose)
    await asyncio.to_thread(
        ensure_current, engine, db.effective_url, auto_migrate=db.auto_migrate, read_only=db.read_only
    )
    sessions = make_session_factory(engine)

    stored = await asyncio.to_thread(_load_overrides_or_empty, sessions)
    overrides, refused = valid_overrides(settings, stored)
    for line in refused:
        log.error(line)
    holder = SettingsHolder(settings, overrides)

    audit = AuditLog(
        settings.app.admin_audit_path,
        max_bytes=settings.app.admin_audit_max_bytes,
        backups=settings.app.admin_audit_backups,
    )
    stack.callback(audit.close)  # writes the aggregated refusals of the minute in progress
    problem = audit.check_writable()
    if problem:
        log.warning(problem)
    if not settings.app.admin_token.get_secret_value() and settings.app.admin_auth_enabled:
        log.warning("QT_ADMIN_TOKEN is not set: every admin route answers 401 until it is (make run generates one)")
    if not settings.app.admin_auth_enabled:
        log.warning("QT_ADMIN_AUTH_DISABLED=1: admin routes are open on this loopback development host")

    probe = HealthProbe(engine, metrics, settings.app.health_probe_seconds)
    await asyncio.to_thread(probe.check_now)
    probe.start()
    stack.push_async_callback(probe.stop)

    leader = None if db.is_sqlite else LeaderLock(engine, settings.scheduler.leader_lock_key)
    runner = JobRunner(holder, metrics, leader=leader, read_only=db.read_only)
    ctx = AppContext(
        settings=holder,
        engine=engine,
        sessions=sessions,
        metrics=metrics,
        audit=audit,
        runner=runner,
        health=probe,
        started_at=datetime.now(UTC),
        read_only=db.read_only,
        clock=clock,
    )
    runtime = RuntimeSettingsService(holder, sessions)
    for line in runtime.shadowed():
        log.warning(line)
    ctx.services["runtime_settings"] = runtime
    ctx.health_checks["audit"] = audit.health_reasons
    flusher = asyncio.create_task(_flush_audit(audit), name="audit-flush")
    stack.push_async_callback(_cancel, flusher)
    follower = asyncio.create_task(_follow_overrides(runtime, settings.app.health_probe_seconds), name="settings-sync")
    stack.push_async_callback(_cancel, follower)
    return ctx


async def _flush_audit(audit: AuditLog, interval: float = 15.0) -> None:
    """Write the aggregated refused attempts of each minute soon after it ends."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(audit.flush)
        except Exception as exc:  # the log is unwritable: health says so, the lines stay aggregated
            log.warning("aggregated audit lines not written", extra={"error": str(exc)})


async def _follow_overrides(runtime: RuntimeSettingsService, interval: float) -> None:
    """Apply run-time settings that another replica persisted (PUT /settings answered elsewhere).

    The database read runs on a thread; the change is applied on the event loop, where the
    settings listeners (the scheduler's rescheduling) expect to run.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            changes, removed = await asyncio.to_thread(runtime.changed_elsewhere)
            if removed:
                runtime.holder.clear(removed)
                log.info("run-time settings deleted by another replica cleared", extra={"names": removed})
            if changes:
                runtime.holder.apply(changes)
                log.info("run-time settings changed by another replica applied", extra={"names": sorted(changes)})
        except Exception as exc:  # unreachable database (health says so) or a value this version refuses
            log.warning("run-time settings not synchronised", extra={"error": str(exc).splitlines()[0]})


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _load_overrides_or_empty(sessions: object) -> dict[str, object]:
    """Persisted overrides; none when the database is unreachable (health reports it)."""
    try:
        return load_overrides(sessions)  # type: ignore[arg-type]
    except Exception as exc:
        log.warning("run-time settings not loaded", extra={"error": str(exc).splitlines()[0]})
        return {}
