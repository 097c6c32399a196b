"""Backtest speed and memory: whole processes of ``python -m backend.backtest``, as an operator runs it.

- the ten real BTC-quoted 5-minute pairs of ../shared/data/real/klines-5m-2018 (when present),
  ``--model none``, rebalance every bar, no baselines, over every bar (BENCH_5M_DAYS=N: the first N
  days), side by side with freqtrade's own backtesting (two EMAs) on all of them in the same run
  when .venv-freqtrade exists (``make freqtrade-venv``; scripts/bench/freqtrade.py), else against
  the figure the issue measured for it on an idle machine (5,800 candles/s, whole process);
- the simulated market (its 47 symbols) hourly, liquidity refresh and rebalance every 4 bars, no
  model, over BENCH_SIM_DAYS days (default 365), against the issue's target (a year of 40 symbols in
  10 s: 35,000 candles/s); and the same over BENCH_SIM_MODEL_DAYS days (default BENCH_SIM_DAYS)
  with model inference at every liquidity refresh (``--model VERSION``, a model trained here first
  on BENCH_MODEL_DAYS days of the simulated market, not timed; BENCH_SIM_MODEL=0 skips it),
  against the issue's target (a year in 20 s: 17,500 candles/s);
- peak memory (max RSS) of each process; with BENCH_MEMORY_100=1 also one year of hourly bars of
  100 symbols (replay files written here), the issue's 1 GB bound (a long run: opt-in);
- ``/health`` latency (p50, p99 over sequential requests) of a running service, idle and while a
  backtest started by POST /backtests runs in its worker process.
Each figure is candles (bars × symbols) per second of the whole process (wall clock), with the
CPU seconds it used beside it: on a shared machine the wall figure moves with the load.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

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
TARGET_SIM_MODEL_CANDLES_PER_S = 17_500.0
SIM_MODEL = os.environ.get("BENCH_SIM_MODEL", "1") != "0"
DAYS_MODEL = int(os.environ.get("BENCH_MODEL_DAYS", "30"))
DAYS_5M = int(os.environ["BENCH_5M_DAYS"]) if os.environ.get("BENCH_5M_DAYS") else None  # None: every bar
DAYS_SIM = int(os.environ.get("BENCH_SIM_DAYS", "365"))
DAYS_SIM_MODEL = int(os.environ.get("BENCH_SIM_MODEL_DAYS", str(DAYS_SIM)))
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


MEMORY_100 = os.environ.get("BENCH_MEMORY_100") == "1"
LAST_CPU = [0.0]  # CPU seconds of the last process _process ran


def _process(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(seconds, max RSS in MiB, last line of output) of one CLI process (its own rusage: os.wait4)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.backtest", "--quiet", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=err,
            text=True,
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        raise RuntimeError(f"backtest failed ({proc.returncode}): {stderr.strip()[-300:]}")
    return seconds, int(usage.ru_maxrss // 1024), stdout.strip().splitlines()[-1]


def _trained_model(tmp: Path) -> tuple[str, dict[str, str]]:
    """(version, environment) of a model trained on the simulated market's hourly bars, recorded
    in a database of its own; the speed figure only (it has seen the bars the backtest trades)."""
    db = f"sqlite:///{tmp / 'model.db'}"
    upgrade(db)
    artifacts = tmp / "artifacts"
    args = ["--output-dir", str(artifacts), "--source", "simulated", "--days", str(DAYS_MODEL), "--interval", "1h"]
    done = subprocess.run(
        [sys.executable, "ai_engine/train_and_save.py", *args, "--activate", "never", "--database-url", db, "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"training failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    version = done.stdout.strip().splitlines()[-1].split()[1].rstrip(":")  # "model VERSION: ...; saved PATH"
    return version, {"DATABASE_URL": db, "QT_MODEL_ARTIFACTS_DIR": str(artifacts)}


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


def _year_of_100_symbols(folder: Path) -> Path:
    """One year (and the first day's window) of hourly random-walk bars of 100 symbols, replay format."""
    rng = np.random.default_rng(100)
    bars = 365 * 24 + 24
    start_ms = 1_704_067_200_000  # 2024-01-01
    for k in range(100):
        close = 10.0 * (k + 1) * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
        opened = np.r_[close[0], close[:-1]]
        high = np.maximum(opened, close) * (1 + np.abs(rng.normal(0, 0.002, bars)))
        low = np.minimum(opened, close) * (1 - np.abs(rng.normal(0, 0.002, bars)))
        volume = 1000.0 * (100 - k) * (1 + np.abs(rng.normal(0, 0.5, bars)))
        lines = ["open_time,open,high,low,close,volume"] + [
            f"{start_ms + i * 3_600_000},{opened[i]:.4f},{high[i]:.4f},{low[i]:.4f},{close[i]:.4f},{volume[i]:.2f}"
            for i in range(bars)
        ]
        (folder / f"S{k:03d}USDT.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _rate_row(name: str, candles: int, seconds: float, **extra: Any) -> dict[str, Any]:
    rate = candles / seconds
    return {
        "name": name,
        "value": round(rate, 1),
        "unit": "candles/s",
        "cpu_seconds": round(LAST_CPU[0], 2),
        "wall_seconds": round(seconds, 2),
        **extra,
    }


def _freqtrade_rows(ours: tuple[float, float]) -> list[dict[str, Any]]:
    """freqtrade's row and the ratios; ``ours`` = (candles per wall-second, per CPU-second)."""
    from scripts.bench import freqtrade

    if not freqtrade.available():
        return [
            {
                "name": "freqtrade backtesting, 10 real 5m pairs (not run: no .venv-freqtrade; make freqtrade-venv)",
                "value": FREQTRADE_CANDLES_PER_S,
                "unit": "candles/s (stated in the issue)",
            }
        ]
    seconds, candles, output = freqtrade.run(REAL_5M)
    totals = [line for line in output.splitlines() if "Total/Daily" in line]  # "│ Total/Daily Avg Trades │ 1371 / 72 │"
    trades = totals[0].split("│")[2].split("/")[0].strip() if totals else "?"
    rate, cpu = candles / seconds, freqtrade.LAST_CPU[0]
    ours_rate, ours_cpu = ours
    return [
        {
            "name": f"freqtrade {freqtrade.version()} backtesting, 10 real 5m pairs, two EMAs (whole process)",
            "value": round(rate, 1),
            "unit": "candles/s",
            "cpu_seconds": round(cpu, 2),
            "wall_seconds": round(seconds, 2),
            "candles": candles,
            "trades": trades,
        },
        {
            "name": "ours / freqtrade, candles per CPU-second (same run; wall figures move with the load)",
            "value": round(ours_cpu / (candles / cpu), 3) if cpu else None,
            "unit": "ratio",
            "ok": bool(cpu) and ours_cpu > candles / cpu,
        },
        {
            "name": "ours / freqtrade, candles per wall-second (same run)",
            "value": round(ours_rate / rate, 3),
            "unit": "ratio",
            "ok": ours_rate > rate,
        },
    ]


def _symbols(line: str) -> int:
    # "8,761 bars × 47 symbols = ..." (the CLI's closing line)
    return int(line.split("×")[1].split("symbols")[0].strip())


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _health_during_backtest()
    if REAL_5M.is_dir():
        first = datetime(2018, 1, 11, tzinfo=UTC)  # the data's first day + the default warm-up day
        span = ["--end", (first + timedelta(days=DAYS_5M)).date().isoformat()] if DAYS_5M else []
        seconds, peak, line = _process(
            [f"--source=replay:{REAL_5M}", *span, "--cash", "1", "--baselines", "none", "--rebalance-bars", "1"],
            BTC_QUOTED,
        )
        ours = (_candles(line) / seconds, _candles(line) / max(LAST_CPU[0], 1e-9))
        rows.append(
            _rate_row(
                f"backtest, 10 real 5m pairs, {f'{DAYS_5M} days' if DAYS_5M else 'every bar'}, rebalance every bar"
                " (whole process)",
                _candles(line),
                seconds,
                target="> freqtrade's candles/s on the same pairs (issue: 5,800 on an idle machine)",
                ok=ours[0] > FREQTRADE_CANDLES_PER_S,
            )
        )
        rows.append({"name": "backtest, 10 real 5m pairs: peak memory", "value": peak, "unit": "MiB"})
        rows.extend(_freqtrade_rows(ours))
    start = datetime(2024, 3, 1, tzinfo=UTC)
    sim_args = ["--source", "simulated", "--start", start.date().isoformat(), "--baselines", "none"]
    end = (start + timedelta(days=DAYS_SIM)).date().isoformat()
    seconds, peak, line = _process([*sim_args, "--end", end], {})
    n = _symbols(line)
    rows.append(
        _rate_row(
            f"backtest, simulated {n} symbols hourly, {DAYS_SIM} days, 4-bar cadences (whole process)",
            _candles(line),
            seconds,
            target=f">= {TARGET_SIM_CANDLES_PER_S:,.0f} candles/s (a year of 40 symbols in 10 s)",
            ok=_candles(line) / seconds >= TARGET_SIM_CANDLES_PER_S,
        )
    )
    rows.append({"name": f"backtest, simulated {n} symbols: peak memory", "value": peak, "unit": "MiB"})
    if SIM_MODEL:
        end = (start + timedelta(days=DAYS_SIM_MODEL)).date().isoformat()
        with tempfile.TemporaryDirectory(prefix="qt-bench-model-") as tmp:
            version, env = _trained_model(Path(tmp))
            seconds, peak, line = _process([*sim_args, "--end", end, "--model", version], env)
        rows.append(
            _rate_row(
                f"backtest, simulated {n} symbols hourly, {DAYS_SIM_MODEL} days, 4-bar cadences, model inference at"
                " every liquidity refresh (whole process)",
                _candles(line),
                seconds,
                target=f">= {TARGET_SIM_MODEL_CANDLES_PER_S:,.0f} candles/s (a year of 40 symbols in 20 s)",
                ok=_candles(line) / seconds >= TARGET_SIM_MODEL_CANDLES_PER_S,
            )
        )
    if MEMORY_100:
        with tempfile.TemporaryDirectory(prefix="qt-bench-100-") as tmp:
            folder = _year_of_100_symbols(Path(tmp))
            seconds, peak, line = _process([f"--source=replay:{folder}", "--baselines", "none"], {})
        rows.append(_rate_row("backtest, 100 symbols hourly, one year (whole process)", _candles(line), seconds))
        rows.append(
            {
                "name": "backtest, 100 symbols hourly, one year: peak memory",
                "value": peak,
                "unit": "MiB",
                "target": "<= 1024 MiB",
                "ok": peak <= 1024,
            }
        )
    return rows
