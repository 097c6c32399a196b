"""Load test: the real service (uvicorn, SQLite, paper exchange, scheduler running every few
seconds) under concurrent clients hitting /health, /risk, /metrics and /portfolio.

    python -m scripts.load [--seconds 60] [--clients 16] [--json artifacts/load/report.json]

Passes when no request failed (non-200 or transport error), the server log has no "database is
locked" and no traceback, and every scheduled job ran during the load without failing. Prints
p50/p99 latency and throughput per route. `make load` runs it; the test suite runs a short one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from backend.tests.process import ServerProcess

REPO_ROOT = Path(__file__).resolve().parents[1]
ROUTES: tuple[tuple[str, bool], ...] = (("/health", False), ("/risk", True), ("/metrics", False), ("/portfolio", True))
JOBS = ("market-cache-refresh", "liquidity-refresh", "execution-rebalance")
CADENCES = {
    "QUANTUM_TRADER_REFRESH_SECONDS": "2",
    "QUANTUM_TRADER_LIQUIDITY_REFRESH_SECONDS": "3",
    "QUANTUM_TRADER_EXECUTION_SECONDS": "5",
}
LOG_PROBLEMS = ("database is locked", "Traceback", "job failed")


@dataclass
class RouteStats:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index]


async def _client(
    base_url: str, admin: dict[str, str], stats: dict[str, RouteStats], offset: int, stop_at: float
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        turn = offset
        while time.monotonic() < stop_at:
            path, needs_admin = ROUTES[turn % len(ROUTES)]
            turn += 1
            t0 = time.perf_counter()
            try:
                response = await client.get(path, headers=admin if needs_admin else None)
                elapsed = time.perf_counter() - t0
                if response.status_code != 200:
                    stats[path].errors.append(f"{response.status_code}: {response.text[:200]}")
                else:
                    stats[path].latencies.append(elapsed)
            except httpx.HTTPError as exc:
                stats[path].errors.append(f"{type(exc).__name__}: {exc}")


def _job_runs(metrics_text: str) -> dict[str, dict[str, float]]:
    runs: dict[str, dict[str, float]] = {}
    pattern = re.compile(
        r'^scheduler_job_runs_total\{scheduler_job="([^"]+)",status="([^"]+)"\} ([0-9.e+]+)$', re.MULTILINE
    )
    for job, status, value in pattern.findall(metrics_text):
        runs.setdefault(job, {})[status] = float(value)
    return runs


def run_load(seconds: float, clients: int, workdir: Path, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Start the service, drive `clients` concurrent clients for `seconds`, stop it; the report."""
    from database.migrate import upgrade

    database_url = f"sqlite:///{workdir / 'quantum_trader.db'}"
    upgrade(database_url)
    token = secrets.token_hex(24)
    service = ServerProcess(
        {
            "DATABASE_URL": database_url,
            "QT_ADMIN_TOKEN": token,
            "QT_ADMIN_AUDIT_PATH": str(workdir / "audit.log"),
            "QT_TRADES_LOG_PATH": str(workdir / "trades.log"),
            "QT_RISK_STATE_DB": str(workdir / "risk_state.db"),
            "QT_MODEL_ARTIFACTS_DIR": str(workdir / "artifacts"),
            "QT_MODEL_AUTO_TRAIN": "0",
            "QT_EXECUTION_EXCHANGE": "paper",
            "QT_MARKET_DATA_SOURCE": "simulated",
            **CADENCES,
            **(extra_env or {}),
        },
        workdir / "server.log",
        extra_args=["--no-access-log"],
    )
    service.start(timeout=90.0)
    stats = {path: RouteStats() for path, _ in ROUTES}
    try:
        # let the first scheduled runs start, so the load overlaps jobs from its first second
        time.sleep(1.5)
        before = _job_runs(httpx.get(f"{service.url}/metrics", timeout=10).text)
        started = time.monotonic()

        async def drive() -> None:
            stop_at = time.monotonic() + seconds
            admin = {"X-Admin-Token": token}
            await asyncio.gather(*(_client(service.url, admin, stats, i, stop_at) for i in range(clients)))

        asyncio.run(drive())
        elapsed = time.monotonic() - started
        after = _job_runs(httpx.get(f"{service.url}/metrics", timeout=10).text)
        health = httpx.get(f"{service.url}/health", timeout=10).json()
    finally:
        exit_code = service.stop()
    log = service.log_path.read_text()
    problems = {problem: log.count(problem) for problem in LOG_PROBLEMS if problem in log}
    jobs = {
        job: {
            status: after.get(job, {}).get(status, 0) - before.get(job, {}).get(status, 0)
            for status in set(after.get(job, {})) | set(before.get(job, {}))
        }
        for job in JOBS
    }
    routes = {
        path: {
            "requests": len(s.latencies) + len(s.errors),
            "errors": len(s.errors),
            "first_errors": s.errors[:3],
            "p50_ms": round(s.percentile(0.50) * 1000, 2),
            "p99_ms": round(s.percentile(0.99) * 1000, 2),
            "rps": round(len(s.latencies) / elapsed, 1),
        }
        for path, s in stats.items()
    }
    total_errors = sum(len(s.errors) for s in stats.values())
    jobs_ok = all(sum(runs.values()) > 0 and not runs.get("failed") for runs in jobs.values())
    return {
        "seconds": round(elapsed, 1),
        "clients": clients,
        "routes": routes,
        "requests": sum(len(s.latencies) + len(s.errors) for s in stats.values()),
        "errors": total_errors,
        "jobs": jobs,
        "log_problems": problems,
        "health_status": health.get("status"),
        "exit_code": exit_code,
        "ok": total_errors == 0 and not problems and jobs_ok,
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"load: {report['clients']} clients for {report['seconds']} s, {report['requests']} requests, "
        f"{report['errors']} errors",
        f"{'route':<12} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}",
    ]
    for path, r in report["routes"].items():
        lines.append(f"{path:<12} {r['requests']:>9} {r['errors']:>7} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['rps']:>8}")
        lines += [f"    {error}" for error in r["first_errors"]]
    for job, runs in report["jobs"].items():
        lines.append(f"job {job}: " + ", ".join(f"{k}={v:g}" for k, v in sorted(runs.items())))
    problems = report["log_problems"] or "none"
    lines.append(f"server log problems: {problems}; /health at the end: {report['health_status']}")
    lines.append("RESULT: " + ("ok" if report["ok"] else "FAILED"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the clients run")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "artifacts" / "load" / "report.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qt-load-") as tmp:
        report = run_load(args.seconds, args.clients, Path(tmp))
        if not report["ok"]:
            print((Path(tmp) / "server.log").read_text()[-4000:], file=sys.stderr)
    print(format_report(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
