"""Order styles side by side (issue 18): the same backtest of the real 5-minute BTC-quoted pairs
(../shared/data/real/klines-5m-2018, first BENCH_STYLES_DAYS days) run once per
QT_EXECUTION_ORDER_STYLE, each a whole ``python -m backend.backtest`` process; the strategy book's
implementation shortfall (bps, fees apart), fees, fill ratio and net return from its metrics.json.
Skipped when the data is not there (the project's tests never need it)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from scripts.bench.backtest import BTC_QUOTED, REAL_5M, _process

DAYS = int(os.environ.get("BENCH_STYLES_DAYS", "2"))
# (label, settings): limit_ioc at the default bound (25 bps) and at a tight one, where the bound bites
STYLES: tuple[tuple[str, dict[str, str]], ...] = (
    ("market", {"QT_EXECUTION_ORDER_STYLE": "market"}),
    ("limit_ioc 25 bps", {"QT_EXECUTION_ORDER_STYLE": "limit_ioc", "QT_EXECUTION_MAX_SLIPPAGE_BPS": "25"}),
    ("limit_ioc 2 bps", {"QT_EXECUTION_ORDER_STYLE": "limit_ioc", "QT_EXECUTION_MAX_SLIPPAGE_BPS": "2"}),
    # maker_first: a LIMIT_MAKER at the best bid/ask; what the next bar does not fill (the bar
    # trading through it, or the book crossing it) is cancelled at the job's check one 5-minute bar
    # later and finished with limit_ioc at the default bound, before the next rebalance
    (
        "maker_first 300 s",
        {
            "QT_EXECUTION_ORDER_STYLE": "maker_first",
            "QT_EXECUTION_MAKER_TIMEOUT_SECONDS": "300",
            "QT_EXECUTION_MAKER_REPRICES": "0",
            "QT_EXECUTION_MAX_SLIPPAGE_BPS": "25",
        },
    ),
)
STYLES += (
    # slicing: market orders above 0.03 BTC go out in slices over the rebalance interval, sent by
    # the execution-resting job's check between cycles as in the service (one a bar when due)
    ("market sliced 0.03 BTC", {"QT_EXECUTION_ORDER_STYLE": "market", "QT_EXECUTION_SLICE_NOTIONAL": "0.03"}),
)
ONLY = os.environ.get("BENCH_STYLES_ONLY")  # run just the styles whose label starts with this


def _strategy_metrics(out: Path) -> dict[str, Any]:
    found = next(out.rglob("metrics.json"))
    data = json.loads(found.read_text())
    books = data["metrics"]
    metrics: dict[str, Any] = books["strategy"]
    return metrics


def run() -> list[dict[str, Any]]:
    if not REAL_5M.is_dir():
        return [{"name": "order styles: real 5m data not found, skipped", "value": None, "unit": ""}]
    end = f"2018-01-{10 + 1 + DAYS:02d}"
    rows: list[dict[str, Any]] = []
    for style, settings in STYLES:
        if ONLY and not style.startswith(ONLY):
            continue
        out = Path(tempfile.mkdtemp(prefix="qt-bench-style-"))
        args = [f"--source=replay:{REAL_5M}", "--end", end, "--cash", "1", "--baselines", "none", "--out", str(out)]
        _process(args, {**BTC_QUOTED, **settings})
        m = _strategy_metrics(out)
        label = f"{style}, 10 real 5m pairs, {DAYS} days"
        rows.append({"name": f"{label}: shortfall (fees apart)", "value": m.get("shortfall_bps"), "unit": "bps"})
        rows.append({"name": f"{label}: fees", "value": m.get("fees"), "unit": "BTC"})
        rows.append({"name": f"{label}: fill ratio", "value": m.get("fill_ratio"), "unit": ""})
        rows.append({"name": f"{label}: net return", "value": m.get("total_return"), "unit": ""})
        rows.append({"name": f"{label}: orders", "value": m.get("orders"), "unit": ""})
    return rows
