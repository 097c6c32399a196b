"""A run's files in --out DIR: metrics.json, equity.csv, orders.csv, fills.csv and report.html."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from backend.backtest.engine import BacktestResult
from backend.backtest.stats import drawdown_of

ORDER_COLUMNS = (
    "book",
    "time",
    "client_order_id",
    "symbol",
    "side",
    "status",
    "requested_quantity",
    "executed_quantity",
    "quote_quantity",
    "reference_price",
    "notional",
    "reason",
)
FILL_COLUMNS = (
    "book",
    "time",
    "client_order_id",
    "symbol",
    "side",
    "price",
    "quantity",
    "fee",
    "fee_asset",
    "fee_quote",
    "realised_pnl",
)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def summary(result: BacktestResult) -> dict[str, Any]:
    """metrics.json: parameters, data range and the figures of the strategy and every baseline."""
    c = result.config
    return {
        "data": result.data,
        "interval": result.interval,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "bars": result.bars,
        "candles": result.candles,
        "starting_cash": float(result.starting_cash),
        "parameters": {
            "symbols": list(c.symbols),
            "market_bars": c.market_bars,
            "liquidity_bars": c.liquidity_bars,
            "rebalance_bars": c.rebalance_bars,
            "fee_bps": None if result.fee_bps is None else float(result.fee_bps),
            "slippage": "book" if c.slippage_bps is None else float(c.slippage_bps),
            "model": result.model,
            "retrain_days": result.retrain_days,
            "baselines": list(c.baselines),
            "hold_first": result.hold_symbol,
            "settings": result.settings,  # what the run set on top of the environment
            "applied": result.applied,  # every setting the environment or the run sets, effective
        },
        "metrics": result.metrics(),
        "warnings": list(result.warnings),
        "trainings": list(result.trainings),  # --model walk-forward: when, and the version or the error
    }


def order_rows(result: BacktestResult) -> list[dict[str, Any]]:
    """Every order of every book, and every order the planner skipped, each with its reason."""
    rows: list[dict[str, Any]] = []
    for name, book in result.books.items():
        for o in book.orders:
            rows.append({"book": name, **o, "notional": o["requested_quantity"] * (o["reference_price"] or 0)})
        for s in book.skipped:
            if s["reason"].startswith("risk guard refused") or s["reason"].startswith("kill switch"):
                continue  # these orders are in the ledger already (REFUSED), with this reason
            rows.append(
                {
                    "book": name,
                    "time": s["time"],
                    "symbol": s["symbol"],
                    "side": s["side"],
                    "status": "SKIPPED",
                    "notional": s["notional"],
                    "reason": s["reason"],
                }
            )
    rows.sort(key=lambda r: (r["book"], r["time"]))
    return rows


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_plain(row.get(c)) for c in columns])


def equity_rows(result: BacktestResult) -> list[dict[str, Any]]:
    rows = []
    for name, book in result.books.items():
        dd = drawdown_of(np.array([float(p.equity) for p in book.equity], dtype=float))
        for point, fall in zip(book.equity, dd, strict=True):
            rows.append(
                {
                    "book": name,
                    "time": point.time,
                    "equity": point.equity,
                    "cash": point.cash,
                    "gross_exposure": point.gross_exposure,
                    "drawdown": round(float(fall), 8),
                }
            )
    return rows


def write_outputs(result: BacktestResult, out: Path) -> dict[str, Any]:
    """Write every file of the run into ``out`` (created); returns metrics.json's content."""
    out.mkdir(parents=True, exist_ok=True)
    content = summary(result)
    (out / "metrics.json").write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    write_csv(out / "equity.csv", ("book", "time", "equity", "cash", "gross_exposure", "drawdown"), equity_rows(result))
    write_csv(out / "orders.csv", ORDER_COLUMNS, order_rows(result))
    fills = [{"book": name, **f} for name, book in result.books.items() for f in book.fills]
    write_csv(out / "fills.csv", FILL_COLUMNS, fills)
    from backend.backtest.report import render_report  # plotly: only when the report is written

    (out / "report.html").write_text(render_report(result, content), encoding="utf-8")
    return content
