"""Run every benchmark module, print one table, write artifacts/bench/report.{md,json}.

Each module in scripts/bench exposes ``run() -> list[dict]``; a row has ``name``, ``value``,
``unit`` and optionally ``target`` (a string such as "<= 100 ms"), ``reference`` (the value of
the reference measured in the same run), ``ratio`` and ``ok`` (whether the target is met).
``python -m scripts.bench [module ...]`` runs only the named modules.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import scripts.bench as package

REPORT_DIR = Path(__file__).resolve().parents[2] / "artifacts" / "bench"


def _modules(selected: list[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))
    return [n for n in names if not selected or n in selected]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else str(value)


def main(argv: list[str]) -> int:
    rows: list[dict[str, Any]] = []
    failures = 0
    for name in _modules(argv):
        module = importlib.import_module(f"scripts.bench.{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            for row in module.run():
                rows.append({"module": name, **row})
        except Exception as exc:
            failures += 1
            rows.append({"module": name, "name": f"{name} FAILED", "value": None, "unit": "", "error": repr(exc)})
        print(f"  {name} took {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    header = ["benchmark", "value", "unit", "target", "reference", "ratio", "ok"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            row.get("name"),
            row.get("value"),
            row.get("unit"),
            row.get("target"),
            row.get("reference"),
            row.get("ratio"),
            {True: "yes", False: "NO", None: ""}[row.get("ok")],
        ]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    table = "\n".join(lines)
    print(table)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    meta = {"time": datetime.now(UTC).isoformat(), "python": platform.python_version(), "machine": platform.machine()}
    (REPORT_DIR / "report.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str))
    (REPORT_DIR / "report.md").write_text(f"# Benchmark report\n\n{meta['time']}, Python {meta['python']}\n\n{table}\n")
    print(f"\nwrote {REPORT_DIR / 'report.md'}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
