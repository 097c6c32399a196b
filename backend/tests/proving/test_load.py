"""A short version of `make load`: the real service under concurrent clients while its jobs run."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.load import JOBS, ROUTES, format_report, run_load


@pytest.mark.slow
def test_concurrent_clients_get_no_errors_while_jobs_run(tmp_path: Path) -> None:
    report = run_load(seconds=10, clients=6, workdir=tmp_path)
    print(format_report(report))  # the figures, visible with -s or on failure

    assert report["errors"] == 0, format_report(report)
    assert report["log_problems"] == {}, (tmp_path / "server.log").read_text()[-4000:]
    for path, _ in ROUTES:
        assert report["routes"][path]["requests"] > 20, path
    # the load overlapped real job runs (cadences of 2, 3 and 5 s), none of which failed
    for job in JOBS:
        runs = report["jobs"][job]
        assert sum(runs.values()) >= 1, (job, runs)
        assert not runs.get("failed"), (job, runs)
    assert report["health_status"] == "ok"
    assert report["ok"]
