"""Operator tooling wall time: the dev-deps guard, init_db.py --check and the migration dry run.

Each runs as an operator runs it (a fresh interpreter per call, so import time counts), a few
times; the median is reported. A larger snapshot (10 000 runtime_settings rows) makes the integrity
check and the copy of the dry run do real work.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from database.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 3


def _time(args: list[str], ok_codes: tuple[int, ...] = (0,)) -> float:
    samples = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - t0)
        if result.returncode not in ok_codes:
            raise RuntimeError(f"{args[0]} exited {result.returncode}: {result.stderr[-500:]}")
    return statistics.median(samples)


def _snapshot(path: Path, revision: str) -> None:
    upgrade(f"sqlite:///{path}", revision)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        now = datetime.now(UTC).isoformat()
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO runtime_settings (name, value, updated_at, updated_by) VALUES (?, ?, ?, 'bench')",
            [(f"BENCH_{i}", json.dumps("x" * 200), now) for i in range(10_000)],
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def run() -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="qt-bench-tooling-"))
    at_head, old = tmp / "head.db", tmp / "old.db"
    _snapshot(at_head, "head")
    _snapshot(old, "0001")
    rows = []
    for name, args, ok_codes, target in (
        ("check_dev_deps_in_runtime.py", ["backend/scripts/check_dev_deps_in_runtime.py"], (0, 1), 2.0),
        (
            "init_db.py --check (SQLite, 10k rows)",
            ["database/init_db.py", "--check", "--url", f"sqlite:///{at_head}"],
            (0,),
            5.0,
        ),
        (
            "alembic_dry_run.py (0001 -> head, 10k rows)",
            ["backend/scripts/alembic_dry_run.py", "--snapshot", str(old), "--sql-output", str(tmp / "up.sql")],
            (0,),
            15.0,
        ),
    ):
        seconds = _time(args, ok_codes)
        rows.append(
            {
                "name": name,
                "value": round(seconds * 1000, 1),
                "unit": "ms",
                "target": f"<= {target * 1000:.0f} ms",
                "ok": seconds <= target,
            }
        )
    return rows
