"""The state store on SQLite and PostgreSQL: idempotent creation, exact decimals, idempotent trades."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import inspect

from backend.exchanges.base import OrderSide
from backend.risk.models import KillSwitchOverride, TradeRecord
from backend.risk.store import RiskStateStore
from backend.tests.risk.conftest import T0


def trade(client_order_id: str = "c1", pnl: str = "-1.23456789", minutes: int = 0) -> TradeRecord:
    return TradeRecord(
        client_order_id=client_order_id,
        symbol="ETHUSDT",
        side=OrderSide.SELL,
        quantity=Decimal("0.00012345"),
        notional=Decimal("0.37035000000001"),
        realised_pnl=Decimal(pnl),
        time=T0.replace(minute=minutes),
    )


def test_create_is_idempotent_and_makes_the_sqlite_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'dir' / 'risk.db'}"
    store = RiskStateStore(url)
    try:
        store.create()
        store.create()
        assert set(inspect(store.engine).get_table_names()) == {"risk_kill_switch", "risk_trades", "risk_resets"}
    finally:
        store.close()


def test_kill_switch_override_round_trips_and_is_replaced(risk_state_url: str) -> None:
    store = RiskStateStore(risk_state_url)
    try:
        store.create()
        assert store.load_kill_switch() is None
        first = KillSwitchOverride(enabled=True, reason="halt: bad fills", actor="abc123", updated_at=T0)
        store.save_kill_switch(first)
        assert store.load_kill_switch() == first
        second = KillSwitchOverride(enabled=None, reason="back to default", actor="def456", updated_at=T0)
        store.save_kill_switch(second)
        assert store.load_kill_switch() == second
    finally:
        store.close()


def test_trades_keep_exact_decimals_and_ignore_a_repeated_client_order_id(risk_state_url: str) -> None:
    store = RiskStateStore(risk_state_url)
    try:
        store.create()
        assert store.add_trade(trade("c1"))
        assert not store.add_trade(trade("c1", pnl="-999"))
        assert store.add_trade(trade("c2", minutes=30))
        rows = store.trades_since(T0)
        assert [r.client_order_id for r in rows] == ["c1", "c2"]
        assert rows[0] == trade("c1")
        assert rows[0].time.tzinfo is not None
        assert [r.client_order_id for r in store.trades_since(T0.replace(minute=1))] == ["c2"]
    finally:
        store.close()


def test_reset_clears_trades_and_override(risk_state_url: str) -> None:
    store = RiskStateStore(risk_state_url)
    try:
        store.create()
        store.add_trade(trade())
        store.save_kill_switch(KillSwitchOverride(enabled=True, reason="x", actor="y", updated_at=T0))
        store.reset()
        assert store.trades_since(T0.replace(year=2000)) == []
        assert store.load_kill_switch() is None
    finally:
        store.close()


def test_upsert_corrects_a_recorded_trade_with_what_the_ledger_learnt(risk_state_url: str) -> None:
    store = RiskStateStore(risk_state_url)
    try:
        store.create()
        assert store.upsert_trade(trade("c1", pnl="0")) == "added"
        assert store.upsert_trade(trade("c1", pnl="0")) == "same"
        assert store.upsert_trade(trade("c1", pnl="-913.76")) == "updated"
        assert [r.realised_pnl for r in store.trades_since(T0)] == [Decimal("-913.76")]
    finally:
        store.close()
