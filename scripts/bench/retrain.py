"""Retraining benchmark: ``/health`` latency (p50, p99 over sequential requests) of a running service
while the model-retrain job trains a challenger in its worker process, against the same service
once the cycle is over. ``python -m scripts.bench retrain``.

The service runs the real scheduler with only the model jobs on (QT_MODEL_RETRAIN_HOURS=24, checked
every second: the first check starts a challenger), on the simulated market, training
BENCH_RETRAIN_DAYS days (default 60) of its 20 most traded symbols without the economic gate.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from backend.tests.process import ServerProcess
from database.migrate import upgrade

DAYS = int(os.environ.get("BENCH_RETRAIN_DAYS", "60"))
TOKEN = "bench-admin-token"  # noqa: S105 (a throwaway token of a local bench service)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _status(client: httpx.Client, url: str) -> str | None:
    challenger = client.get(f"{url}/ai/model-info").json().get("challenger")
    return None if challenger is None else str(challenger["status"])


def _latencies_while(client: httpx.Client, url: str, keep_going: Any, limit_s: float) -> list[float]:
    out: list[float] = []
    deadline = time.monotonic() + limit_s
    checked = time.monotonic()
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        client.get(f"{url}/health")
        out.append((time.perf_counter() - t0) * 1000)
        if time.monotonic() - checked > 0.5:  # every half second: is the worker still training?
            checked = time.monotonic()
            if not keep_going():
                break
    return out


def run() -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="qt-bench-retrain-"))
    db = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(db)
    env = {
        "DATABASE_URL": db,
        "QT_ADMIN_TOKEN": TOKEN,
        "QT_ADMIN_AUDIT_PATH": str(tmp / "audit.log"),
        "QT_RISK_STATE_DB": str(tmp / "risk.db"),
        "QT_TRADES_LOG_PATH": str(tmp / "trades.log"),
        "QT_MODEL_ARTIFACTS_DIR": str(tmp / "artifacts"),
        "QT_MODEL_AUTO_TRAIN": "0",
        "QT_MODEL_RETRAIN_HOURS": "24",
        "QT_MODEL_CYCLE_CHECK_SECONDS": "1",
        "QT_MODEL_ECONOMIC_GATE": "0",
        "QT_MODEL_TRAIN_DAYS": str(DAYS),
        "QUANTUM_TRADER_REFRESH_SECONDS": "0",
        "QUANTUM_TRADER_LIQUIDITY_REFRESH_SECONDS": "0",
        "QUANTUM_TRADER_EXECUTION_SECONDS": "0",
        "QT_PORTFOLIO_MARK_SECONDS": "0",
        "QT_LOG_LEVEL": "WARNING",
    }
    server = ServerProcess(env, tmp / "server.log", extra_args=["--log-level", "warning"]).start()
    try:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 60
            while _status(client, server.url) != "training":
                if time.monotonic() > deadline:
                    raise RuntimeError("the model-retrain job did not start a challenger within 60 s")
                time.sleep(0.2)
            started = time.monotonic()
            busy = _latencies_while(client, server.url, lambda: _status(client, server.url) == "training", 600)
            training_s = time.monotonic() - started
            outcome = _status(client, server.url) or "done"
            idle = _latencies_while(client, server.url, lambda: True, 5)
    finally:
        server.stop()
    return [
        {
            "name": f"/health p50 while a challenger trains in its worker ({DAYS} d x 20 symbols, {training_s:.0f} s)",
            "value": round(_pct(busy, 0.5), 2),
            "unit": "ms",
            "reference": round(_pct(idle, 0.5), 2),
            "target": "reference: the same service after the cycle (" + outcome + ")",
        },
        {
            "name": "/health p99 while a challenger trains in its worker",
            "value": round(_pct(busy, 0.99), 2),
            "unit": "ms",
            "reference": round(_pct(idle, 0.99), 2),
            "target": "reference: the same service after the cycle",
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
