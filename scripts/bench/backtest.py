"""Backtest speed and memory: whole processes of ``python -m backend.backtest``, as an operator runs it.

- the ten real BTC-quoted 5-minute pairs of ../shared/data/real/klines-5m-2018 (when present),
  ``--model none``, rebalance every bar, no baselines, over the first BENCH_5M_DAYS days, against
  the figure the issue measured for freqtrade's own backtesting on all of them (5,800 candles/s
  for the whole process, start-up included; not re-measured here: freqtrade is not installed);
- the simulated market: 40 symbols hourly, liquidity refresh and rebalance every 4 bars, no model,
  over BENCH_SIM_DAYS days, against the issue's target (a year in 10 s: 35,000 candles/s);
- peak memory (max RSS) of each process;
- ``/health`` latency (p50, p99 over sequential requests) of a running service, idle and while a
  backtest started by POST /backtests runs in its worker process.
Each figure is candles (bars × symbols) per second of the whole process.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from backend.tests.process import ServerProcess
from database.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
# ../shared beside the repository (CI, /work/main), or beside the folder of a worktree
REAL_5M = (
    next(
        (p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if (p / "data").is_dir()),
        ROOT.parent / "shared",
    )
    / "data"
    / "real"
    / "klines-5m-2018"
)
FREQTRADE_CANDLES_PER_S = 5_800.0
TARGET_SIM_CANDLES_PER_S = 35_000.0
DAYS_5M = int(os.environ.get("BENCH_5M_DAYS", "2"))
DAYS_SIM = int(os.environ.get("BENCH_SIM_DAYS", "7"))
BTC_QUOTED = {
    "QT_LIQUIDITY_QUOTE_ASSETS": "BTC",
    "QT_EXECUTION_QUOTE_ASSET": "BTC",
    "QT_EXECUTION_MIN_NOTIONAL": "0.001",
    "QT_LIQUIDITY_MIN_QUOTE_VOLUME": "0",
    "QT_LIQUIDITY_MIN_LISTING_DAYS": "0",
    "QT_LIQUIDITY_MIN_PRICE": "0",
    "QT_MAX_NOTIONAL_PER_TRADE": "1",
    "QT_MAX_POSITION_PER_SYMBOL": "1",
    "QT_MAX_GROSS_EXPOSURE": "2",
    "QT_MAX_DAILY_LOSS": "1",
}


def _process(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(seconds, max RSS in MiB, last line of output) of one CLI process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "backend.backtest", "--quiet", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"backtest failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) // 1024
    return seconds, int(peak), done.stdout.strip().splitlines()[-1]


def _candles(line: str) -> int:
    # "... = 5,760 candles in ..." (the CLI's closing line)
    return int(line.split("=")[1].split("candles")[0].strip().replace(",", ""))


def _latencies(url: str, seconds: float) -> list[float]:
    out: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            client.get(f"{url}/health")
            out.append((time.perf_counter() - t0) * 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _health_during_backtest() -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="qt-bench-bt-"))
    db = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(db)
    env = {
        "DATABASE_URL": db,
        "QT_ADMIN_TOKEN": "bench-admin-token",
        "QT_ADMIN_AUDIT_PATH": str(tmp / "audit.log"),
        "QT_RISK_STATE_DB": str(tmp / "risk.db"),
        "QT_TRADES_LOG_PATH": str(tmp / "trades.log"),
        "QT_MODEL_ARTIFACTS_DIR": str(tmp / "artifacts"),
        "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",
        "QT_LOG_LEVEL": "WARNING",
    }
    server = ServerProcess(env, tmp / "server.log", extra_args=["--log-level", "warning"]).start()
    try:
        idle = _latencies(server.url, 5)
        body = {"source": "simulated", "start": "2024-03-01T00:00:00Z", "end": "2024-03-03T00:00:00Z"}
        started = server.post("/backtests", json=body, headers={"X-Admin-Token": "bench-admin-token"})
        started.raise_for_status()
        busy = _latencies(server.url, 15)
        status = server.get(f"/backtests/{started.json()['id']}").json()["status"]
    finally:
        server.stop()
    return [
        {"name": "/health p50, idle service", "value": round(_pct(idle, 0.5), 2), "unit": "ms"},
        {"name": "/health p99, idle service", "value": round(_pct(idle, 0.99), 2), "unit": "ms"},
        {
            "name": f"/health p50 while a backtest runs (worker {status})",
            "value": round(_pct(busy, 0.5), 2),
            "unit": "ms",
        },
        {
            "name": f"/health p99 while a backtest runs (worker {status})",
            "value": round(_pct(busy, 0.99), 2),
            "unit": "ms",
        },
    ]


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _health_during_backtest()
    if REAL_5M.is_dir():
        end = f"2018-01-{10 + 1 + DAYS_5M:02d}"
        seconds, peak, line = _process(
            [f"--source=replay:{REAL_5M}", "--end", end, "--cash", "1", "--baselines", "none", "--rebalance-bars", "1"],
            BTC_QUOTED,
        )
        rate = _candles(line) / seconds
        rows.append(
            {
                "name": f"backtest, 10 real 5m pairs, {DAYS_5M} days, rebalance every bar (whole process)",
                "value": round(rate, 1),
                "unit": "candles/s",
                "target": f"> {FREQTRADE_CANDLES_PER_S:,.0f} candles/s (freqtrade, stated in the issue)",
                "reference": FREQTRADE_CANDLES_PER_S,
                "ratio": round(rate / FREQTRADE_CANDLES_PER_S, 4),
                "ok": rate > FREQTRADE_CANDLES_PER_S,
            }
        )
        rows.append({"name": "backtest, 10 real 5m pairs: peak memory", "value": peak, "unit": "MiB"})
    start, end = "2024-03-01", f"2024-03-{1 + DAYS_SIM:02d}"
    seconds, peak, line = _process(
        ["--source", "simulated", "--start", start, "--end", end, "--baselines", "none"],
        {},
    )
    rate = _candles(line) / seconds
    rows.append(
        {
            "name": f"backtest, simulated 40 symbols hourly, {DAYS_SIM} days, 4-bar cadences (whole process)",
            "value": round(rate, 1),
            "unit": "candles/s",
            "target": f">= {TARGET_SIM_CANDLES_PER_S:,.0f} candles/s (a year in 10 s)",
            "ok": rate >= TARGET_SIM_CANDLES_PER_S,
        }
    )
    rows.append({"name": "backtest, simulated 40 symbols: peak memory", "value": peak, "unit": "MiB"})
    return rows
