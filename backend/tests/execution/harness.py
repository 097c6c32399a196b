"""Build an ExecutionService on a real database, a real RiskGuard and the paper exchange."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import Exchange
from backend.exchanges.paper import PaperConfig, PaperExchange
from backend.execution.ledger import Ledger
from backend.execution.planner import PlanParams
from backend.execution.service import ExecutionService
from backend.execution.tradelog import TradesLog
from backend.observability.metrics import Metrics
from backend.risk.guard import AuditHook, RiskGuard
from backend.risk.guarded import GuardedExchange
from backend.risk.store import RiskStateStore
from backend.tests.execution.fakes import NOW, FakeMarket
from config.risk import RiskSettings
from database.session import make_engine, make_session_factory


@dataclass
class Harness:
    engine: Engine
    sessions: sessionmaker[Session]
    market: FakeMarket
    adapter: Exchange
    guard: RiskGuard
    store: RiskStateStore
    service: ExecutionService
    metrics: Metrics
    weights: dict[str, Decimal] | None
    trades_log: Path

    def close(self) -> None:
        self.service.close()
        self.store.close()
        self.engine.dispose()


def build(
    database_url: str,
    tmp_path: Path,
    market: FakeMarket,
    *,
    weights: dict[str, Decimal] | None = None,
    params: PlanParams | None = None,
    risk: RiskSettings | None = None,
    paper: PaperConfig | None = None,
    wrap: Callable[[Exchange], Exchange] | None = None,
    clock: Callable[[], datetime] = lambda: NOW,
    state_name: str = "risk.db",
    audit_hook: AuditHook | None = None,
) -> Harness:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    cfg = paper or PaperConfig()
    adapter: Exchange = PaperExchange(
        sessions, book=market.order_book, rules=market.symbol_rules, config=lambda: cfg, clock=clock
    )
    if wrap is not None:
        adapter = wrap(adapter)
    store = RiskStateStore(f"sqlite:///{tmp_path / state_name}")
    store.create()
    risk_settings = risk or RiskSettings(_env_file=None, QT_MAX_NOTIONAL_PER_TRADE="100000")  # type: ignore[call-arg]
    metrics = Metrics()
    guard = RiskGuard(store, lambda: risk_settings, metrics=metrics, clock=clock, audit_hook=audit_hook)
    guard.load()
    log_path = tmp_path / "trades.log"
    h = Harness(
        engine,
        sessions,
        market,
        adapter,
        guard,
        store,
        None,
        metrics,
        weights,
        log_path,  # type: ignore[arg-type]
    )
    plan = params or PlanParams(
        cost_margin_bps=cfg.fee_bps + cfg.max_slippage_bps,
        max_notional_per_trade=risk_settings.max_notional_per_trade,
        max_position_per_symbol=risk_settings.max_position_per_symbol,
    )
    h.service = ExecutionService(
        ledger=Ledger(sessions, exchange=adapter.name, quote_asset="USDT", clock=clock),
        exchange=GuardedExchange(adapter, guard),
        snapshot=market.snapshot,
        selection=lambda: h.weights,
        params=lambda: plan,
        metrics=metrics,
        trades_log=TradesLog(log_path),
        clock=clock,
    )
    return h
