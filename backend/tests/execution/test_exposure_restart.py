"""One figure for the exposure through a restart: /risk's gross exposure is re-derived from the
ledger at start-up (not 0 while /portfolio shows holdings), and risk_gross_exposure and
execution_gross_exposure agree. Real apps (lifespan included) on one database (SQLite, and
PostgreSQL with QT_TEST_DATABASE_URL), the simulated market and the paper exchange.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory

CENT = Decimal("0.01")


def _settings(make_settings: SettingsFactory) -> Any:
    return make_settings(
        risk={"QT_MAX_NOTIONAL_PER_TRADE": "100000", "QT_MAX_PRICE_STALENESS_SECONDS": "86400"},
        execution={"QT_EXECUTION_MAX_ORDERS": "50"},
    )


def _gauge(client: Any, name: str) -> Decimal:
    text = client.get("/metrics", headers=ADMIN_HEADERS).text
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return Decimal(line.split()[1])


def _risk_gross(client: Any) -> Decimal:
    return Decimal(client.get("/risk", headers=ADMIN_HEADERS).json()["metrics"]["gross_exposure"])


def test_risk_exposure_survives_a_restart_and_agrees_with_the_portfolio(
    client_for: Any, make_settings: SettingsFactory
) -> None:
    settings = _settings(make_settings)
    first = client_for(settings)
    assert first.post("/liquidity/refresh", headers=ADMIN_HEADERS).status_code == 200
    run = first.post("/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS).json()
    assert run["details"]["orders_submitted"] > 0, run
    held = Decimal(run["details"]["gross_exposure"])
    assert held > 0
    first.__exit__(None, None, None)  # the process stops; a new one starts on the same database

    second = client_for(settings)
    # before any order and before any portfolio view: start-up reconciliation re-derived it
    after_restart = _risk_gross(second)
    assert after_restart > 0
    assert abs(after_restart - held) <= held * Decimal("0.05")  # the same holdings at start-up marks
    assert abs(_gauge(second, "risk_gross_exposure") - _gauge(second, "execution_gross_exposure")) < CENT
    portfolio = second.get("/portfolio", headers=ADMIN_HEADERS).json()
    gross = Decimal(portfolio["gross_exposure"])
    assert gross > 0
    assert abs(_risk_gross(second) - gross) < CENT  # /risk and /portfolio: one figure
    assert abs(_gauge(second, "risk_gross_exposure") - gross) < CENT
    assert abs(_gauge(second, "execution_gross_exposure") - gross) < CENT
