"""Acceptance: the kill switch set through the API survives a SIGKILL of the real server process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from backend.risk.guard import RiskGuard
from backend.risk.models import RiskContext, RuleName
from backend.risk.store import RiskStateStore
from backend.tests.conftest import ADMIN_HEADERS, ADMIN_TOKEN
from backend.tests.process import ServerProcess
from backend.tests.risk.conftest import order, risk_settings


@pytest.mark.slow
def test_kill_switch_survives_sigkill_and_restart(tmp_path: Path, sqlite_url: str) -> None:
    state_db = tmp_path / "state" / "risk_state.db"
    env = {
        "DATABASE_URL": sqlite_url,
        "QT_ADMIN_TOKEN": ADMIN_TOKEN,
        "QT_ADMIN_AUDIT_PATH": str(tmp_path / "audit.log"),
        "QT_RISK_STATE_DB": str(state_db),
        "QT_TRADES_LOG_PATH": str(tmp_path / "trades.log"),
        "QT_MODEL_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",
    }
    first = ServerProcess(env, tmp_path / "server-1.log").start()
    try:
        assert first.get("/health").json()["kill_switch"] is False
        response = first.post(
            "/risk/kill-switch", json={"enabled": True, "reason": "incident 42: bad fills"}, headers=ADMIN_HEADERS
        )
        assert response.status_code == 200, response.text
    finally:
        first.kill()  # SIGKILL: no shutdown code runs
    assert first.proc is not None
    assert first.proc.returncode == -9

    second = ServerProcess(env, tmp_path / "server-2.log").start()
    try:
        assert second.get("/health").json()["kill_switch"] is True
        state = second.get("/risk", headers=ADMIN_HEADERS).json()["kill_switch"]
        assert (state["enabled"], state["override"], state["reason"]) == (True, True, "incident 42: bad fills")
        assert state["actor"]
    finally:
        second.terminate()

    # and no order passes a guard built on that state
    store = RiskStateStore(f"sqlite:///{state_db}")
    try:
        guard = RiskGuard(store, lambda: risk_settings())
        guard.load()
        now = datetime.now(UTC)
        ctx = RiskContext(now=now, reference_price=Decimal(100), reference_time=now - timedelta(seconds=1))
        decision = guard.check(order("ETHUSDT", side="SELL"), ctx)
        assert decision.rule is RuleName.KILL_SWITCH
        assert "incident 42" in decision.reason
    finally:
        store.close()
