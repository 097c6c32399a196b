"""Fenced leadership, proven with two real service processes on one PostgreSQL database.

The leader saves its orders, then stops between save and send (the QT_TEST_HOLD_BEFORE_SEND_DIR
hook, backend/components/send_hold.py) and is frozen (SIGSTOP); its leader-lock session is killed
(pg_terminate_backend, as after a network partition). The other process takes over: it leads,
looks the saved orders up, fails them, plans and sends its own. Then the old leader resumes
(SIGCONT): before sending it proves it still leads, finds it does not, and sends nothing.

Both processes trade through the real python-binance client against the local Binance server
(in this test process: the exchange's truth). After every takeover: none of the old leader's saved
orders reached the exchange, the orders executed in the round all come from the new leader's one
cycle (at most one per symbol: no intended order executed twice), no position beyond
QT_MAX_POSITION_PER_SYMBOL, ledger == exchange. QT_FAILOVER_ROUNDS (default 1; `make crash` runs
more) takeovers alternate the roles.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from backend.components.send_hold import hold_before_send
from backend.market.sources.simulated import SimulatedMarket
from backend.tests.conftest import ADMIN_HEADERS, ADMIN_TOKEN, private_pg_database
from backend.tests.fakes.binance_account import MatchingEngine, install
from backend.tests.fakes.binance_server import FakeBinance
from backend.tests.process import ServerProcess
from backend.tests.proving.money_checks import Exchange, check_money_invariants
from backend.tests.proving.test_multi_instance import advisory_lock_holders, wait_for

ROUNDS = int(os.environ.get("QT_FAILOVER_ROUNDS", "1"))
MAX_TRADE, MAX_POSITION = Decimal(3000), Decimal(4000)
# 10,000 USDT: alternating the cash buffer moves every target, so each round has orders to send
# (2,500 of each symbol, then 1,500), and the account could pay for a round's buys twice: only the
# fencing stops a double (which would hold 5,000 against the 4,000 limit)
BUFFERS = ["5000", "7000"]
JOB = "/scheduler/jobs/execution-rebalance/run"


async def test_the_hold_hook_is_off_unless_set_and_holds_while_the_gate_file_exists(tmp_path: Path) -> None:
    assert hold_before_send({}) is None
    hook = hold_before_send({"QT_TEST_HOLD_BEFORE_SEND_DIR": str(tmp_path)})
    assert hook is not None
    await hook("qt-1-BTCUSDT-B")  # no gate: returns at once
    assert not (tmp_path / "held").exists()


@pytest.fixture
def shared_pg(database_url: str) -> Iterator[str]:
    if database_url.startswith("sqlite"):
        pytest.skip("failover needs PostgreSQL: the leader lock is a PostgreSQL advisory lock (SQLite: one process)")
    with private_pg_database("qt_failover", migrate=True) as url:
        yield url


@pytest.fixture
def exchange() -> Iterator[tuple[FakeBinance, MatchingEngine]]:
    fake = FakeBinance(SimulatedMarket(42))
    engine = install(fake, MatchingEngine())
    fake.start()
    yield fake, engine
    engine.release.set()
    fake.stop()


def replica(url: str, exchange_url: str, workdir: Path) -> ServerProcess:
    workdir.mkdir(parents=True)
    env = {
        "DATABASE_URL": url,
        "QT_RISK_STATE_DB": url,
        "QT_ADMIN_TOKEN": ADMIN_TOKEN,
        "QT_ADMIN_AUDIT_PATH": str(workdir / "audit.log"),
        "QT_TRADES_LOG_PATH": str(workdir / "trades.log"),
        "QT_MODEL_ARTIFACTS_DIR": str(workdir.parent / "artifacts"),
        "QT_MODEL_AUTO_TRAIN": "0",
        "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",  # cycles run through the manual-run endpoint only
        "QT_HEALTH_PROBE_SECONDS": "1",
        "QT_EXECUTION_EXCHANGE": "binance",
        "QT_EXECUTION_BINANCE_TESTNET": "1",
        "QT_BINANCE_API_URL": exchange_url,
        "QT_BINANCE_API_KEY": "fake-api-key",  # the local server's made-up credentials
        "QT_BINANCE_API_SECRET": "fake-api-secret",
        "QT_MARKET_DATA_SOURCE": "binance",
        "QT_BINANCE_WEIGHT_BUDGET": "6000",
        "QUANTUM_TRADER_SYMBOLS": "BTCUSDT,ETHUSDT",
        "QT_LIQUIDITY_WHITELIST": "BTCUSDT,ETHUSDT",  # two symbols, half the invested cash each
        "QT_LIQUIDITY_MAX_WEIGHT": "0.5",
        "QT_MAX_NOTIONAL_PER_TRADE": str(MAX_TRADE),
        "QT_MAX_POSITION_PER_SYMBOL": str(MAX_POSITION),
        "QT_TEST_HOLD_BEFORE_SEND_DIR": str(workdir),
    }
    return ServerProcess(env, workdir.parent / f"{workdir.name}.log")


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def run_cycle(server: ServerProcess) -> dict[str, Any]:
    response = httpx.post(f"{server.url}{JOB}", headers=ADMIN_HEADERS, timeout=180)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def set_buffer(servers: tuple[ServerProcess, ...], buffer: str) -> None:
    for server in servers:
        response = httpx.put(
            f"{server.url}/settings", headers=ADMIN_HEADERS, json={"QT_EXECUTION_CASH_BUFFER": buffer}, timeout=30
        )
        assert response.status_code == 200, response.text


def takeover(url: str, engine: MatchingEngine, leader: ServerProcess, follower: ServerProcess, buffer: str) -> None:
    """One round: the leader holds between save and send, loses its lock, the follower trades."""
    assert leader.proc is not None
    workdir = Path(leader.env["QT_TEST_HOLD_BEFORE_SEND_DIR"])
    set_buffer((leader, follower), buffer)
    before = {o["clientOrderId"] for o in Exchange.of(engine).orders}
    (workdir / "hold").touch()
    answer: dict[str, Any] = {}

    def call() -> None:
        try:
            answer.update(run_cycle(leader))
        except BaseException as exc:  # reported by the assertions below, not as a thread warning
            answer["error"] = repr(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    held = wait_for(
        lambda: ((workdir / "held").exists() and (workdir / "held").read_text()) or (not caller.is_alive() and "-"),
        "the leader to hold an order between save and send",
    )
    assert held != "-", f"the leader's cycle planned nothing to send: {answer}"
    [(held_run,)] = rows(url, "SELECT run_id FROM orders WHERE client_order_id = :c", c=held)
    saved = {r[0] for r in rows(url, "SELECT client_order_id FROM orders WHERE run_id = :r", r=held_run)}

    os.kill(leader.proc.pid, signal.SIGSTOP)  # frozen with its orders saved and unsent
    try:
        holders = advisory_lock_holders(url)
        assert len(holders) == 1, holders
        rows(url, "SELECT pg_terminate_backend(:pid)", pid=next(iter(holders)))
        # the old session gone (the follower's background tasks may take the free lock at once)
        wait_for(lambda: not advisory_lock_holders(url) & holders, "PostgreSQL to end the leader's lock session")
        taken = run_cycle(follower)
        assert taken["run"]["status"] != "follower", taken
        assert taken["details"]["orders_submitted"] >= 1, taken
    finally:
        os.kill(leader.proc.pid, signal.SIGCONT)
        (workdir / "hold").unlink()
    caller.join(timeout=120)
    assert not caller.is_alive(), "the old leader's cycle did not finish"

    # what the exchange holds first: a double would show here
    assert check_money_invariants(
        "after the takeover", follower, engine, max_trade=MAX_TRADE, max_position=MAX_POSITION
    ), "an order was left unresolved"
    exchange = Exchange.of(engine)
    new = [o for o in exchange.orders if o["clientOrderId"] not in before]
    assert not saved & {o["clientOrderId"] for o in new}, "an order of the fenced leader reached the exchange"
    runs = {
        r[0]
        for o in new
        for r in rows(url, "SELECT run_id FROM orders WHERE client_order_id = :c", c=o["clientOrderId"])
    }
    assert runs == {taken["details"]["last_run_id"]}, runs  # one cycle, the new leader's
    symbols = [o["symbol"] for o in new if Decimal(o["executedQty"]) > 0]
    assert len(symbols) == len(set(symbols)), f"a symbol traded twice in one round: {symbols}"
    states = {r[0] for r in rows(url, "SELECT status FROM orders WHERE run_id = :r", r=held_run)}
    assert states <= {"FAILED", "SKIPPED"}, states  # resolved by the new leader, none SENDING
    # and the old leader knows why it sent nothing
    assert "fenced" in str(answer["run"]["errors"]), answer
    assert answer["details"]["orders_submitted"] == 0, answer
    fenced = [line for line in Path(leader.env["QT_TRADES_LOG_PATH"]).read_text().splitlines() if held in line]
    assert any("order_fenced" in line for line in fenced), fenced


@pytest.mark.slow
def test_failover_between_save_and_send_never_sends_twice(
    shared_pg: str, exchange: tuple[FakeBinance, MatchingEngine], tmp_path: Path
) -> None:
    fake, engine = exchange
    a = replica(shared_pg, fake.url, tmp_path / "a")
    b = replica(shared_pg, fake.url, tmp_path / "b")
    try:
        a.start()
        b.start()
        leader, follower = a, b
        for round_no in range(ROUNDS):
            takeover(shared_pg, engine, leader, follower, BUFFERS[round_no % len(BUFFERS)])
            leader, follower = follower, leader
        # the old leader, alive again, is a follower now: its next run does nothing
        assert run_cycle(follower)["run"]["status"] == "follower"
        assert check_money_invariants("at the end", leader, engine, max_trade=MAX_TRADE, max_position=MAX_POSITION)
        assert Exchange.of(engine).executed(), "nothing was ever traded: the test proved nothing"
    finally:
        for server in (a, b):
            if server.proc is not None and server.proc.poll() is None:
                os.kill(server.proc.pid, signal.SIGCONT)
            server.kill()
