"""The alerts and the dashboard against a real Prometheus (Debian's package) scraping the real service.

`promtool test rules` runs the rules' unit tests (docs/monitoring/alerts.test.yml: each alert fires
on its failure and stays quiet on a healthy default install over an hour of synthetic series); the
live test starts the service with its scheduler, lets /usr/bin/prometheus scrape it every second and
evaluate the rules, runs every dashboard query and alert expression through Prometheus' API, and
checks that nothing is pending or firing. Both skip, saying why, where the binaries are missing
(CI installs them: .ci/run).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from backend.tests.conftest import ADMIN_HEADERS, ADMIN_TOKEN
from backend.tests.process import ServerProcess, free_port
from backend.tests.tooling.conftest import REPO_ROOT

MONITORING = REPO_ROOT / "docs" / "monitoring"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
MISSING = "not installed (Debian: apt-get install prometheus; .ci/run installs it)"
JOBS = ("market-cache-refresh", "liquidity-refresh", "execution-rebalance")


def _need(binary: str) -> None:
    if not Path(binary).is_file():
        pytest.skip(f"{binary}: {MISSING}")


def _dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", []) if "expr" in target]


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    _need(PROMTOOL)
    check = subprocess.run([PROMTOOL, "check", "rules", "alerts.yml"], cwd=MONITORING, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts.test.yml"], cwd=MONITORING, capture_output=True, text=True, timeout=120
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr


@pytest.fixture
def service(tmp_path: Path, sqlite_url: str) -> Iterator[ServerProcess]:
    """The default install (simulated market, paper exchange, no model) with its scheduler running."""
    env = {
        "DATABASE_URL": sqlite_url,
        "QT_ADMIN_TOKEN": ADMIN_TOKEN,
        "QT_ADMIN_AUDIT_PATH": str(tmp_path / "audit.log"),
        "QT_RISK_STATE_DB": str(tmp_path / "risk.db"),
        "QT_TRADES_LOG_PATH": str(tmp_path / "trades.log"),
        "QT_MODEL_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "QT_MODEL_AUTO_TRAIN": "0",
    }
    server = ServerProcess(env, tmp_path / "server.log").start()
    try:
        for job in JOBS:  # one run of each now, rather than waiting for their cadences (409: running already)
            assert server.post(f"/scheduler/jobs/{job}/run", headers=ADMIN_HEADERS).status_code in (200, 409)
        yield server
    finally:
        server.stop()


@pytest.fixture
def prometheus(tmp_path: Path, service: ServerProcess) -> Iterator[str]:
    _need(PROMETHEUS)
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(MONITORING / "alerts.yml")],
        "scrape_configs": [
            {"job_name": "quantum-trader", "static_configs": [{"targets": [f"127.0.0.1:{service.port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200, 30, "Prometheus ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not within {timeout}s")


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


@pytest.mark.slow
def test_a_real_prometheus_sees_every_job_and_no_alert_on_a_default_install(prometheus: str) -> None:
    # enough scrapes for rate()/increase() (two samples) and several rule evaluations
    _wait(lambda: len(_query(prometheus, "scheduler_job_runs_total")) >= len(JOBS), 30, "the service scraped")
    time.sleep(5)

    runs = _query(prometheus, "sum by (scheduler_job, status) (scheduler_job_runs_total)")
    assert {series["metric"]["scheduler_job"] for series in runs} >= set(JOBS)
    assert not [s for s in _query(prometheus, "scheduler_job_runs_total") if "exported_job" in s["metric"]]

    for expr in _dashboard_queries():
        result = _query(prometheus, expr)  # every panel's query is valid PromQL on the real series
        if "scheduler_job" in expr:
            assert {s["metric"].get("scheduler_job") for s in result} >= set(JOBS), expr
    for rule in _alert_rules():
        _query(prometheus, rule["expr"])

    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    evaluated = [r for group in rules for r in group["rules"]]
    assert len(evaluated) == len(_alert_rules())
    assert all(r["health"] == "ok" for r in evaluated), [(r["name"], r.get("lastError")) for r in evaluated]
    alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    assert alerts == [], [(a["labels"]["alertname"], a["state"], a.get("value")) for a in alerts]
