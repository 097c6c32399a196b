"""The idle service's resident memory with a model loaded, and the test suite's wall time.

Memory: a real uvicorn process on a fresh SQLite database, a model trained on the simulated market
and force-activated, the scheduler disabled; VmRSS read from /proc after start-up settles.
Suite: `pytest -q` on SQLite (set BENCH_SKIP_SUITE=1 to leave it out).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from backend.tests.process import REPO_ROOT, ServerProcess
from database.migrate import upgrade

RSS_TARGET_MB = 350.0
SUITE_TARGET_S = 600.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _memory() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="qt-bench-rss-"))
    db = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(db)
    env = {
        "DATABASE_URL": db,
        "QT_ADMIN_AUDIT_PATH": str(tmp / "audit.log"),
        "QT_RISK_STATE_DB": str(tmp / "risk.db"),
        "QT_TRADES_LOG_PATH": str(tmp / "trades.log"),
        "QT_MODEL_ARTIFACTS_DIR": str(tmp / "artifacts"),
        "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",
        "QT_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [
            sys.executable,
            "ai_engine/train_and_save.py",
            "--output-dir",
            str(tmp / "artifacts"),
            "--days",
            "30",
            "--activate",
            "force",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    server = ServerProcess(env, tmp / "server.log", extra_args=["--log-level", "warning"]).start()
    try:
        if server.proc is None:
            raise RuntimeError("the service process did not start")
        info = httpx.get(f"{server.url}/ai/model-info", timeout=10).json()
        time.sleep(3)  # let start-up allocations settle
        rss = _rss_mb(server.proc.pid)
    finally:
        server.stop()
    loaded = info.get("status") == "active"
    return {
        "name": "idle service resident memory (model loaded)" if loaded else "idle service resident memory (NO model)",
        "value": round(rss, 1),
        "unit": "MB",
        "target": f"<= {RSS_TARGET_MB:.0f} MB",
        "ok": rss <= RSS_TARGET_MB and loaded,
    }


def _suite() -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT,
        env={k: v for k, v in os.environ.items() if k != "QT_TEST_DATABASE_URL"},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return {
        "name": f"test suite wall time, SQLite ({summary})",
        "value": round(wall, 1),
        "unit": "s",
        "target": f"< {SUITE_TARGET_S:.0f} s",
        "ok": proc.returncode == 0 and wall < SUITE_TARGET_S,
    }


def run() -> list[dict[str, Any]]:
    rows = [_memory()]
    if not os.environ.get("BENCH_SKIP_SUITE"):
        rows.append(_suite())
    return rows
