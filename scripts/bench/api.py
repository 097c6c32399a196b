"""API throughput of the real app against a plain FastAPI reference, side by side in one run.

Single uvicorn worker each, wrk on loopback (1 thread, 16 connections), alternating reference and
target runs so both see the same machine load. The scheduler is disabled so only HTTP is measured.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from backend.tests.process import ServerProcess
from database.migrate import upgrade
from scripts.bench._server import wrk

TOKEN = "bench-admin-token-0123456789abcdef"  # noqa: S105 - a throwaway token for a local benchmark server
ROUNDS = 2
SECONDS = 4

# (path, needs token, target ratio to the reference)
ENDPOINTS = [
    ("/health", False, 0.85),
    ("/metrics", False, None),
    ("/scheduler/status", True, 0.7),
    ("/risk", True, 0.7),
]


def _measure(url: str, headers: dict[str, str] | None) -> dict[str, float]:
    wrk(url, seconds=1, headers=headers)  # warm-up
    return wrk(url, seconds=SECONDS, headers=headers)


def run() -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="qt-bench-api-"))
    db = tmp / "bench.db"
    upgrade(f"sqlite:///{db}")
    env = {
        "DATABASE_URL": f"sqlite:///{db}",
        "QT_ADMIN_TOKEN": TOKEN,
        "QT_ADMIN_AUDIT_PATH": str(tmp / "audit.log"),
        "QT_RISK_STATE_DB": str(tmp / "risk.db"),
        "QT_TRADES_LOG_PATH": str(tmp / "trades.log"),
        "QT_MODEL_ARTIFACTS_DIR": str(tmp / "artifacts"),
        "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",
        "QT_LOG_LEVEL": "WARNING",
    }
    quiet = ["--log-level", "warning", "--no-access-log"]
    reference = ServerProcess(
        {},
        tmp / "reference.log",
        target="scripts.bench._reference_app:app",
        factory=False,
        extra_args=quiet,
        ready_path="/ref",
    ).start()
    app = ServerProcess(env, tmp / "app.log", extra_args=quiet).start()
    rows: list[dict[str, Any]] = []
    try:
        import httpx

        for path, needs_token, target in ENDPOINTS:
            headers = {"X-Admin-Token": TOKEN} if needs_token else None
            if httpx.get(app.url + path, headers=headers, timeout=5).status_code != 200:
                continue  # the endpoint does not exist yet in this build
            refs, apps = [], []
            for _ in range(ROUNDS):
                refs.append(_measure(reference.url + "/ref", None))
                apps.append(_measure(app.url + path, headers))
            ref_rps = statistics.median(r["rps"] for r in refs)
            app_rps = statistics.median(r["rps"] for r in apps)
            ratio = app_rps / ref_rps
            rows.append(
                {
                    "name": f"GET {path} throughput" + (" (with token)" if needs_token else ""),
                    "value": round(app_rps, 1),
                    "unit": "req/s",
                    "target": f">= {target} x reference" if target else "",
                    "reference": round(ref_rps, 1),
                    "ratio": round(ratio, 3),
                    "ok": (ratio >= target) if target else None,
                }
            )
            rows.append(
                {
                    "name": f"GET {path} latency p50 / p99",
                    "value": f"{statistics.median(r['p50_ms'] for r in apps):.2f} / "
                    f"{statistics.median(r['p99_ms'] for r in apps):.2f}",
                    "unit": "ms",
                    "reference": f"{statistics.median(r['p50_ms'] for r in refs):.2f} / "
                    f"{statistics.median(r['p99_ms'] for r in refs):.2f}",
                }
            )
            if any(r["non2xx"] for r in apps):
                rows[-2]["ok"] = False
                rows[-2]["error"] = "non-2xx responses during the run"
    finally:
        app.stop()
        reference.stop()
    return rows
