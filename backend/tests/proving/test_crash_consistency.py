"""Crash consistency: SIGKILL the real service at random points of execution cycles, restart it,
and check after every restart that the exchange, the ledger and the risk records still agree.

Two exchanges: the paper exchange (its state in the service's own database) and the Binance adapter
against the local Binance server running as its own process (which is never killed here; the
service is). The number of kills per test is QT_CRASH_ROUNDS (default 4; `make crash` runs more).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from backend.tests.conftest import ADMIN_HEADERS, ADMIN_TOKEN
from backend.tests.process import REPO_ROOT, ServerProcess, free_port

ROUNDS = int(os.environ.get("QT_CRASH_ROUNDS", "4"))
# Alternating the cash buffer moves every target by ~40% of equity, so each cycle has orders to send.
BUFFERS = ["0", "4000"]


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "QT_ADMIN_TOKEN": ADMIN_TOKEN,
        "QT_ADMIN_AUDIT_PATH": str(tmp_path / "audit.log"),
        "QT_RISK_STATE_DB": str(tmp_path / "risk_state.db"),
        "QT_TRADES_LOG_PATH": str(tmp_path / "trades.log"),
        "QT_MODEL_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",  # cycles are driven through the manual-run endpoint
        "QT_LOG_LEVEL": "INFO",
        # an order killed between its claim (SENDING) and its answer stays unknown for this long;
        # the restarts here are seconds apart, so a short window lets the next cycles trade
        "QT_EXECUTION_UNKNOWN_GRACE_SECONDS": "2",
        **extra,
    }


def _fire_cycle(url: str) -> None:
    """Ask for a cycle; the answer may never come (the process is about to die)."""
    try:
        httpx.post(f"{url}/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS, timeout=30)
    except httpx.HTTPError:
        pass


def _wait_for_growth(path: Path, size: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > size:
            return True
        time.sleep(0.002)
    return False


def _crash_rounds(server: ServerProcess, check: Any, rng: random.Random, trades_log: Path) -> int:
    """Kill the service mid-cycle ROUNDS times; after each restart run `check`. Returns kills done.

    Even rounds kill at a uniformly random moment after the cycle is requested (planning, market
    reads, the first orders); odd rounds wait for the first order event in the trades log and kill
    a few milliseconds later, in the middle of sending and recording orders.
    """
    kills = 0
    for round_no in range(ROUNDS):
        server.start()
        check(f"after restart {round_no}")
        buffer = BUFFERS[round_no % len(BUFFERS)]
        response = httpx.put(
            f"{server.url}/settings", headers=ADMIN_HEADERS, json={"QT_EXECUTION_CASH_BUFFER": buffer}, timeout=30
        )
        assert response.status_code == 200, response.text
        size = trades_log.stat().st_size if trades_log.exists() else 0
        caller = threading.Thread(target=_fire_cycle, args=(server.url,), daemon=True)
        caller.start()
        if round_no % 2 == 0:
            time.sleep(rng.uniform(0.0, 0.35))
        else:
            _wait_for_growth(trades_log, size)
            time.sleep(rng.uniform(0.0, 0.03))
        server.kill()
        caller.join(timeout=30)
        kills += 1
    server.start()
    check("after the last restart")
    # one clean cycle after all the crashes still works and keeps everything consistent
    response = httpx.post(f"{server.url}/scheduler/jobs/execution-rebalance/run", headers=ADMIN_HEADERS, timeout=120)
    assert response.status_code == 200, response.text
    check("after a clean cycle")
    server.terminate()
    return kills


def _rows(url: str, sql: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def _ledger(database_url: str, exchange: str) -> dict[str, Any]:
    orders = _rows(database_url, f"SELECT client_order_id, executed_quantity FROM orders WHERE exchange = '{exchange}'")
    fills = _rows(database_url, f"SELECT trade_id FROM fills WHERE exchange = '{exchange}'")
    positions = _rows(database_url, f"SELECT base_asset, quantity FROM positions WHERE exchange = '{exchange}'")
    cash = _rows(database_url, f"SELECT asset, amount FROM balances WHERE exchange = '{exchange}'")
    return {
        "executed_ids": {row[0] for row in orders if Decimal(str(row[1])) > 0},
        "fill_ids": [row[0] for row in fills],
        "positions": {row[0]: Decimal(str(row[1])) for row in positions if Decimal(str(row[1])) != 0},
        "balances": {row[0]: Decimal(str(row[1])) for row in cash},
    }


def _risk_records(tmp_path: Path) -> tuple[set[str], list[Any]]:
    url = f"sqlite:///{tmp_path / 'risk_state.db'}"
    trades = {row[0] for row in _rows(url, "SELECT client_order_id FROM risk_trades")}
    kill_switch = _rows(url, "SELECT enabled, reason FROM risk_kill_switch")
    return trades, kill_switch


def _assert_reconciled(where: str, database_url: str) -> None:
    """The start-up reconciliation ran and did not fail (a failed one leaves the comparison moot)."""
    runs = _rows(database_url, "SELECT status, error FROM execution_runs WHERE kind = 'reconcile' ORDER BY id DESC")
    assert runs, f"{where}: no start-up reconciliation recorded"
    assert runs[0][0] != "failed", f"{where}: start-up reconciliation failed: {runs[0][1]}"


@dataclass(frozen=True)
class ExchangeState:
    """What the exchange itself holds: the truth the service must agree with."""

    order_ids: list[str]
    trade_ids: set[str]
    balances: dict[str, Decimal]


def _assert_consistent(
    where: str, exchange: ExchangeState, exchange_name: str, database_url: str, tmp_path: Path, quote: str = "USDT"
) -> None:
    _assert_reconciled(where, database_url)
    ledger = _ledger(database_url, exchange_name)
    risk_trades, kill_switch = _risk_records(tmp_path)
    order_ids = exchange.order_ids
    assert len(order_ids) == len(set(order_ids)), f"{where}: a client order id reached the exchange twice"
    assert len(ledger["fill_ids"]) == len(set(ledger["fill_ids"])), f"{where}: a fill was recorded twice"
    assert set(ledger["fill_ids"]) == exchange.trade_ids, f"{where}: ledger fills differ from the exchange's trades"
    held = {asset: qty for asset, qty in exchange.balances.items() if asset != quote and qty != 0}
    assert ledger["positions"] == held, f"{where}: positions differ from the exchange's balances"
    assert ledger["balances"].get(quote) == exchange.balances.get(quote), f"{where}: cash differs from the exchange"
    assert risk_trades == ledger["executed_ids"], f"{where}: risk records differ from the executed orders"
    assert all(row[0] is not True for row in kill_switch), f"{where}: the kill switch turned on: {kill_switch}"


def _crash_and_check(
    server: ServerProcess,
    read_exchange: Callable[[], ExchangeState],
    exchange_name: str,
    database_url: str,
    tmp_path: Path,
    rng: random.Random,
) -> None:
    traded: list[int] = []

    def check(where: str) -> None:
        exchange = read_exchange()
        _assert_consistent(where, exchange, exchange_name, database_url, tmp_path)
        traded.append(len(exchange.trade_ids))

    try:
        assert _crash_rounds(server, check, rng, tmp_path / "trades.log") == ROUNDS
    finally:
        server.kill()
    assert traded[-1] > 0, "no cycle ever traded: the test proved nothing"


@pytest.mark.slow
def test_paper_exchange_survives_sigkill_mid_cycle(tmp_path: Path, database_url: str) -> None:
    server = ServerProcess(_env(tmp_path, database_url), tmp_path / "server.log")

    def paper_state() -> ExchangeState:
        balances = {
            row[0]: Decimal(str(row[1])) + Decimal(str(row[2]))
            for row in _rows(database_url, "SELECT asset, free, locked FROM paper_balances")
        }
        return ExchangeState(
            order_ids=[row[0] for row in _rows(database_url, "SELECT client_order_id FROM paper_orders")],
            trade_ids={f"P{row[0]}" for row in _rows(database_url, "SELECT id FROM paper_trades")},
            balances=balances,
        )

    _crash_and_check(server, paper_state, "paper", database_url, tmp_path, random.Random(20261125))
    assert "database is locked" not in (tmp_path / "server.log").read_text()


@pytest.fixture
def binance_process(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, state = free_port(), tmp_path / "exchange.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.tests.fakes.binance_process", "--port", str(port), "--state", str(state)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY"), line
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.mark.slow
def test_binance_adapter_survives_sigkill_mid_cycle(
    tmp_path: Path, database_url: str, binance_process: tuple[str, Path]
) -> None:
    url, state = binance_process
    env = _env(
        tmp_path,
        database_url,
        QT_EXECUTION_EXCHANGE="binance",
        QT_EXECUTION_BINANCE_TESTNET="1",
        QT_BINANCE_API_URL=url,
        QT_BINANCE_API_KEY="fake-api-key",  # the local server's made-up credentials
        QT_BINANCE_API_SECRET="fake-api-secret",
        QT_MARKET_DATA_SOURCE="binance",
        # seven start-ups in a minute each read the whole market; Binance allows 6000 weight a minute
        QT_BINANCE_WEIGHT_BUDGET="6000",
        QUANTUM_TRADER_SYMBOLS="BTCUSDT,ETHUSDT",
    )
    server = ServerProcess(env, tmp_path / "server.log")

    def binance_state() -> ExchangeState:
        data = json.loads(state.read_text())
        return ExchangeState(
            order_ids=[order["clientOrderId"] for order in data["orders"]],
            trade_ids={str(trade["id"]) for trade in data["trades"]},
            balances={asset: Decimal(amount) for asset, amount in data["balances"].items()},
        )

    _crash_and_check(server, binance_state, "binance", database_url, tmp_path, random.Random(11252026))
