"""Performance statistics of a book's equity curve and fills (formulas in docs/backtest.md).

Returns are simple bar-to-bar returns of equity; annualisation uses the number of bars in a
365-day year (crypto trades every day), and the risk-free rate is 0. The metrics are numpy's,
with pandas' formulas (its ``pct_change``, two-pass ``std`` and skip-NaN means, the same floats
bit for bit, which the tests check): a backtest does not import pandas for them. The report's
curves and monthly returns are pandas series. Money stays Decimal until it becomes a ratio.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from backend.execution.shortfall import ShortfallSum, shortfall_of

if TYPE_CHECKING:
    import pandas as pd

ZERO = Decimal(0)
YEAR = timedelta(days=365)
CAGR_MIN_DAYS = 30

# reached the exchange: filled, partly, expired, cancelled after resting, or still resting at the end
PLACED = frozenset({"FILLED", "PARTIALLY_FILLED", "EXPIRED", "EXPIRED_IN_MATCH", "CANCELED", "NEW"})


@dataclass(frozen=True)
class Curve:
    """An equity curve as pandas series indexed by time (floats: ratios only)."""

    equity: pd.Series
    gross: pd.Series


def curve(points: Sequence[Any]) -> Curve:
    import pandas as pd  # the report's: the metrics below do without

    index = pd.DatetimeIndex([p.time for p in points])
    equity = pd.Series([float(p.equity) for p in points], index=index, dtype=float)
    gross = pd.Series([float(p.gross_exposure) for p in points], index=index, dtype=float)
    return Curve(equity, gross)


def drawdown_of(equity: np.ndarray) -> np.ndarray:
    """Fall from the running peak, as a fraction of the peak (0 at a new high, negative below), of
    an array of equity values (no NaN: they come from Decimals)."""
    with np.errstate(all="ignore"):  # a zero peak: NaN, as pandas' division gives it, silently
        return equity / np.maximum.accumulate(equity) - 1 if equity.size else equity.copy()


def _equity(points: Sequence[Any]) -> np.ndarray:
    return np.array([float(p.equity) for p in points], dtype=float)


def _longest_underwater_days(equity: np.ndarray, times: Sequence[Any]) -> float:
    """Longest time from a peak to the next recovery of it (or to the end), in days."""
    if not equity.size:
        return 0.0
    under = equity < np.maximum.accumulate(equity)
    longest = timedelta(0)
    started = None
    for i, below in enumerate(under.tolist()):
        if below and started is None:
            started = times[i - 1] if i > 0 else times[i]
        elif not below and started is not None:
            longest = max(longest, times[i] - started)
            started = None
    if started is not None:
        longest = max(longest, times[-1] - started)
    return longest.total_seconds() / 86_400


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def symbol_pnl(
    fills: Sequence[Mapping[str, Any]], holdings: Mapping[str, Decimal], marks: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """Per symbol: sale proceeds net of fees − purchase costs + what is held at the last marks.

    Buy fees are paid in the base asset, so they are already missing from the holdings; sell fees
    are paid in the quote asset and are deducted from the proceeds. The sum over symbols is the
    book's equity change.
    """
    pnl: dict[str, Decimal] = {}
    for f in fills:
        notional = f["price"] * f["quantity"]
        change = -notional if f["side"] == "BUY" else notional - f["fee"]
        pnl[f["symbol"]] = pnl.get(f["symbol"], ZERO) + change
    for symbol, qty in holdings.items():
        pnl[symbol] = pnl.get(symbol, ZERO) + qty * marks.get(symbol, ZERO)
    return dict(sorted(pnl.items()))


def book_metrics(
    points: Sequence[Any],
    fills: Sequence[Mapping[str, Any]],
    orders: Sequence[Mapping[str, Any]],
    *,
    interval_seconds: int,
    holdings: Mapping[str, Decimal],
    marks: Mapping[str, Decimal],
) -> dict[str, Any]:
    equity = _equity(points)
    gross = np.array([float(p.gross_exposure) for p in points], dtype=float)
    times = [p.time for p in points]
    with np.errstate(all="ignore"):  # pandas' pct_change().dropna(): x[i] / x[i - 1] - 1, NaN dropped
        returns = equity[1:] / equity[:-1] - 1
    returns = returns[~np.isnan(returns)]
    per_year = YEAR.total_seconds() / interval_seconds
    first, last = (equity[0], equity[-1]) if len(equity) else (0.0, 0.0)
    total = last / first - 1 if first > 0 else 0.0
    span = (times[-1] - times[0]).total_seconds() if len(equity) > 1 else 0.0
    years = span / YEAR.total_seconds()
    # compounding a few days to a year says nothing: CAGR from 30 days of history on
    cagr = (last / first) ** (1 / years) - 1 if span >= CAGR_MIN_DAYS * 86_400 and first > 0 and last > 0 else None
    std = float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0
    mean = float(np.mean(returns)) if len(returns) else 0.0
    # one return has no spread: neither ratio is defined (as Sharpe's sample deviation needs two)
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if len(returns) > 1 else 0.0
    dd = drawdown_of(equity)
    traded = sum((f["price"] * f["quantity"] for f in fills), ZERO)
    fees = sum((f["fee_quote"] for f in fills), ZERO)
    avg_equity = float(np.mean(equity)) if len(equity) else 0.0
    placed = [o for o in orders if o["status"] in PLACED]
    never = [o for o in orders if o["status"] != "WORKING" and o["status"] not in PLACED]  # a sliced parent: neither
    with np.errstate(all="ignore"):  # pandas' (gross / equity.where(equity > 0)).fillna(0.0)
        exposure = np.where(equity > 0, gross / equity, np.nan)
    exposure[np.isnan(exposure)] = 0.0
    fees_by_order: dict[str, Decimal] = {}
    for f in fills:
        key = str(f.get("client_order_id"))
        fees_by_order[key] = fees_by_order.get(key, ZERO) + f["fee_quote"]
    shortfall = ShortfallSum().extend(
        shortfall_of(
            str(o["side"]),
            o.get("reference_price"),
            o["executed_quantity"],
            o["quote_quantity"],
            fees_by_order.get(str(o["client_order_id"]), ZERO),
        )
        for o in orders
    )
    requested = sum((o["requested_quantity"] * (o.get("reference_price") or ZERO) for o in placed), ZERO)
    executed = sum((o["executed_quantity"] * (o.get("reference_price") or ZERO) for o in placed), ZERO)
    return {
        "start_equity": round(first, 8),
        "end_equity": round(last, 8),
        "total_return": total,
        "cagr": _finite(cagr) if cagr is not None else None,
        "volatility": std * math.sqrt(per_year) if len(returns) > 1 else None,  # one return has no spread
        "sharpe": _finite(mean / std * math.sqrt(per_year)) if std > 0 else None,
        "sortino": _finite(mean / downside * math.sqrt(per_year)) if downside > 0 else None,
        "max_drawdown": _max_drawdown(dd),
        "max_drawdown_days": round(_longest_underwater_days(equity, times), 4),
        "turnover": float(traded) / avg_equity if avg_equity > 0 else 0.0,
        "traded_notional": float(traded),
        "fees": float(fees),
        # implementation shortfall (backend/execution/shortfall.py): average fill vs the arrival mark, fees apart
        "shortfall_quote": float(shortfall.quote),
        "shortfall_bps": float(shortfall.bps) if shortfall.bps is not None else None,
        "fill_ratio": float(executed / requested) if requested > 0 else None,  # of placed orders, by notional
        "orders": len(placed),
        "orders_not_placed": len(never),
        "fills": len(fills),
        "exposure_avg": float(np.mean(exposure)) if len(exposure) else 0.0,
        "symbol_pnl": {s: float(v) for s, v in symbol_pnl(fills, holdings, marks).items()},
    }


def _max_drawdown(dd: np.ndarray) -> float:
    """The deepest fall, positive; NaN ones skipped (pandas' ``min``: NaN when every one is)."""
    if not len(dd):
        return 0.0
    seen = dd[~np.isnan(dd)]
    return abs(float(seen.min())) if seen.size else float("nan")


def monthly_returns(points: Sequence[Any]) -> dict[str, float]:
    """Return of each calendar month (UTC), from the last equity of the previous month."""
    equity = curve(points).equity
    if equity.empty:
        return {}
    month_end = equity.groupby(equity.index.strftime("%Y-%m")).last()
    previous = month_end.shift(1)
    previous.iloc[0] = equity.iloc[0]
    return {str(k): float(v) for k, v in (month_end / previous - 1).items()}
