"""Fixtures of the risk tests: a state store on SQLite and (with QT_TEST_DATABASE_URL) PostgreSQL,
guards built on it with a settable clock, and builders for orders and contexts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from backend.exchanges.base import OrderRequest, OrderSide
from backend.observability.metrics import Metrics
from backend.risk.guard import AuditHook, RiskGuard
from backend.risk.models import RiskContext
from backend.risk.store import RiskStateStore
from backend.risk.store import metadata as risk_metadata
from backend.tests.conftest import _backends, _pg_base_url, private_pg_database
from config.risk import RiskSettings

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def pg_risk_server_url() -> Iterator[str | None]:
    """A private PostgreSQL database for risk state stores in this session."""
    if _pg_base_url() is None:
        yield None
        return
    with private_pg_database("qt_risk") as url:
        yield url


@pytest.fixture(params=_backends())
def risk_state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty state store location: a new SQLite file, or the session's PostgreSQL database emptied."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_risk_server_url")
        engine = create_engine(url)
        with engine.begin() as conn:
            names = ", ".join(table.name for table in risk_metadata.tables.values())
            conn.execute(text(f"DROP TABLE IF EXISTS {names}"))
        engine.dispose()
        return url
    return f"sqlite:///{tmp_path / 'state' / 'risk_state.db'}"


def risk_settings(**env: Any) -> RiskSettings:
    """RiskSettings from env-style names, ignoring the process environment and backend/.env."""
    values = {"QT_RISK_STATE_DB": "/nonexistent/unused.db", **{k: str(v) for k, v in env.items()}}
    return RiskSettings(_env_file=None, **values)  # type: ignore[call-arg]


class Harness:
    """A guard on a real store, with its settings, clock and metrics, rebuildable (a "restart")."""

    def __init__(self, url: str, settings: RiskSettings, clock: Clock, audit: AuditHook | None = None) -> None:
        self.url = url
        self.settings = settings
        self.clock = clock
        self.audit = audit
        self.metrics = Metrics()
        self.stores: list[RiskStateStore] = []
        self.guard = self.restart()

    def restart(self) -> RiskGuard:
        store = RiskStateStore(self.url)
        store.create()
        self.stores.append(store)
        self.metrics = Metrics()
        guard = RiskGuard(store, lambda: self.settings, metrics=self.metrics, clock=self.clock, audit_hook=self.audit)
        guard.load()
        self.guard = guard
        return guard

    def close(self) -> None:
        for store in self.stores:
            store.close()


HarnessFactory = Callable[..., Harness]


@pytest.fixture
def make_harness(risk_state_url: str) -> Iterator[HarnessFactory]:
    made: list[Harness] = []

    def factory(audit: AuditHook | None = None, clock: Clock | None = None, **env: Any) -> Harness:
        harness = Harness(risk_state_url, risk_settings(**env), clock or Clock(), audit)
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.close()


_ids = iter(range(10**9))


def order(
    symbol: str = "ETHUSDT",
    side: OrderSide | str = OrderSide.BUY,
    quantity: Decimal | str | float = "1",
    price: Decimal | str | float | None = None,
    reference_price: Decimal | str | float | None = None,
    client_order_id: str | None = None,
) -> OrderRequest:
    def dec(value: Any) -> Any:
        return Decimal(value) if isinstance(value, str) else value

    return OrderRequest(
        symbol=symbol,
        side=OrderSide(side),
        quantity=dec(quantity),
        client_order_id=client_order_id or f"t-{next(_ids)}",
        price=dec(price),
        reference_price=dec(reference_price),
    )


def context(
    now: datetime = T0,
    reference: Decimal | str | float | None = "100",
    age_seconds: float = 1.0,
    positions: dict[str, Decimal] | None = None,
    fill_sequence: int | None = None,
) -> RiskContext:
    return RiskContext(
        now=now,
        reference_price=Decimal(reference) if isinstance(reference, str) else reference,
        reference_time=now - timedelta(seconds=age_seconds),
        positions=positions or {},
        fill_sequence=fill_sequence,
    )
