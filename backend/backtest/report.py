"""report.html: one self-contained page (plotly.js inline, no CDN) an operator can read offline.

Equity curves of the strategy and the baselines, their drawdowns, per-symbol contribution,
monthly returns and the summary table, with the run's parameters and data range.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from backend.backtest.engine import BacktestResult
from backend.backtest.stats import curve, drawdown_of, monthly_returns

COLUMNS = (
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("volatility", "Volatility (ann.)", "pct"),
    ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_days", "Longest drawdown (days)", "num"),
    ("turnover", "Turnover (× avg equity)", "num"),
    ("fees", "Fees", "money"),
    ("shortfall_bps", "Shortfall (bps, fees apart)", "num"),
    ("fill_ratio", "Fill ratio", "pct"),
    ("orders", "Orders", "int"),
    ("exposure_avg", "Avg exposure", "pct"),
)
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1100px;color:#1b1f24;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}caption{text-align:left;font-weight:600;padding:.3rem 0}
.pos{background:#dafbe1}.neg{background:#ffebe9}.muted{color:#57606a;font-size:.85rem}
"""


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{value * 100:.2f} %"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "money":
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:,.6g}"
    return f"{value:,.3f}"


def _figure(fig: go.Figure, title: str, y_title: str) -> str:
    fig.update_layout(
        title=title,
        height=360,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        yaxis_title=y_title,
        template="plotly_white",
    )
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def _summary_table(metrics: dict[str, dict[str, Any]]) -> str:
    head = "".join(f"<th scope='col'>{html.escape(label)}</th>" for _k, label, _t in COLUMNS)
    rows = []
    for name, m in metrics.items():
        cells = "".join(f"<td>{_fmt(m.get(key), kind)}</td>" for key, _l, kind in COLUMNS)
        rows.append(f"<tr><th scope='row'>{html.escape(name)}</th>{cells}</tr>")
    return f"<table><caption>Summary</caption><tr><th>Book</th>{head}</tr>{''.join(rows)}</table>"


def _monthly_table(result: BacktestResult) -> str:
    per_book = {name: monthly_returns(book.equity) for name, book in result.books.items()}
    months = sorted({m for values in per_book.values() for m in values})
    head = "".join(f"<th scope='col'>{m}</th>" for m in months)
    rows = []
    for name, values in per_book.items():
        cells = []
        for m in months:
            v = values.get(m)
            css = "" if v is None else (" class='pos'" if v > 0 else " class='neg'" if v < 0 else "")
            cells.append(f"<td{css}>{_fmt(v, 'pct')}</td>")
        rows.append(f"<tr><th scope='row'>{html.escape(name)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>Book</th>{head}</tr>{''.join(rows)}</table>"


def _skip_table(result: BacktestResult) -> str:
    rows = []
    for name, book in result.books.items():
        reasons = Counter(s["reason"].split(":")[0] for s in book.skipped)
        for reason, count in reasons.most_common(5):
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(reason)}</td><td>{count:,}</td></tr>")
    if not rows:
        return "<p class='muted'>No order was skipped.</p>"
    return (
        "<table><caption>Why planned orders were skipped or refused, most frequent reasons first (every skip"
        " counts, the planner's below-minimum trades too; metrics' orders_not_placed counts only the orders"
        " saved in the ledger and then refused, failed or not sent)</caption>"
        f"<tr><th>Book</th><th>Reason</th><th>Orders</th></tr>{''.join(rows)}</table>"
    )


def _setting(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def _warnings(lines: list[str]) -> str:
    if not lines:
        return "<p class='muted'>No symbol misses a bar of the range, and every universe refresh selected.</p>"
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


def render_report(result: BacktestResult, content: dict[str, Any]) -> str:
    metrics = content["metrics"]
    equity = go.Figure()
    falls = go.Figure()
    for name, book in result.books.items():
        c = curve(book.equity)
        equity.add_trace(go.Scatter(x=c.equity.index, y=c.equity.to_numpy(), mode="lines", name=name))
        falls.add_trace(go.Scatter(x=c.equity.index, y=drawdown_of(c.equity.to_numpy()) * 100, mode="lines", name=name))
    contribution = go.Figure()
    for name, m in metrics.items():
        pnl = m["symbol_pnl"]
        contribution.add_trace(go.Bar(x=list(pnl), y=list(pnl.values()), name=name))
    contribution.update_layout(barmode="group")
    params = content["parameters"]
    described = ", ".join(
        f"{k.replace('_', ' ')} {html.escape(str(v))}"
        for k, v in params.items()
        if k not in ("settings", "applied") and v not in ([], None)
    )
    settings = "".join(
        f"<li><code>{html.escape(k)}={html.escape(_setting(v))}</code>"
        + (" (set by the run)" if k in params["settings"] else "")
        + "</li>"
        for k, v in params["applied"].items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Backtest {html.escape(content["start"][:10])} – {html.escape(content["end"][:10])}</title>
<style>{STYLE}</style><script>{get_plotlyjs()}</script></head>
<body><main>
<h1>Backtest: {html.escape(content["data"])}, {content["interval"]} bars</h1>
<p>{html.escape(content["start"])} to {html.escape(content["end"])}: {content["bars"]:,} bars,
{content["candles"]:,} candles, starting cash {content["starting_cash"]:,.2f}.</p>
<p class="muted">{described}</p>
{_summary_table(metrics)}
<p class="muted">Returns are net of fees and slippage; annualised over 365 days of bars, risk-free rate 0
(formulas in docs/backtest.md). The strategy and every baseline ran on the same bars, costs and cadence.</p>
<h2>Equity</h2>{_figure(equity, "Equity of the strategy and the baselines", "equity")}
<h2>Drawdown</h2>{_figure(falls, "Fall from the running peak", "%")}
<h2>Per-symbol contribution</h2>{_figure(contribution, "PnL by symbol (net of fees)", "PnL")}
<h2>Monthly returns</h2>{_monthly_table(result)}
<h2>Orders skipped</h2>{_skip_table(result)}
<h2>Data warnings</h2>{_warnings(content["warnings"])}
<h2>Settings applied</h2><p class="muted">Each setting the run reads that is not at its default, and each
the run set; every other is at its default (docs/configuration.md). Paths and URLs are not shown.</p>
<ul>{settings}</ul>
</main></body></html>
"""
