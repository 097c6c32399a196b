"""Shadowing a challenger: score live bars with champion and challenger, settle what followed, compare.

Pure functions over klines and recorded rows (the retrain service stores them). A bar is scored
once, when it has closed, with the features the live predictor would have computed at its close
(the same causal feature code, over the bars up to it, and the sentiment reading held then);
neither model's predictions are traded. Once ``horizon`` more bars have closed, the bar's forward
return and label (the challenger's threshold, a fixed one) are known and both models are judged on
it: log loss, and the net return of acting on the signal (BUY long, SELL short for the horizon,
a round trip of fees charged; HOLD does nothing), averaged over every scored bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ai_engine.booster import predict_proba
from ai_engine.cycles import ShadowRow
from ai_engine.evaluation import log_loss
from ai_engine.features import FEATURE_NAMES, WARMUP_BARS, bars_from_klines, compute_features, interval_delta
from ai_engine.labels import BUY, HOLD, SELL
from ai_engine.registry import LoadedModel
from backend.market.types import Kline


def closed(klines: Sequence[Kline], now: datetime) -> list[Kline]:
    """The bars that have closed by ``now`` (a live source's newest bar may still be forming)."""
    return [k for k in klines if k.close_time < now]


def score_new_bars(
    challenger: LoadedModel,
    champion: LoadedModel | None,
    klines_by_symbol: Mapping[str, Sequence[Kline]],
    *,
    after: datetime,
    recorded: Mapping[str, datetime],
    now: datetime,
    max_bar_times: int,
    sentiment: pd.Series | None = None,
) -> list[ShadowRow]:
    """Rows for the closed bars opening after ``after`` (and after what is recorded) of every symbol.

    ``sentiment`` is the readings the service held (value / 100, each stamped when it was first
    held), joined as of each bar's close as in training: a bar gets the reading the live predictor
    had when the bar closed, so a model that learned from it is judged with it, as it is served."""
    interval = str(challenger.metadata.get("interval"))
    usable = {s: closed(ks, now) for s, ks in klines_by_symbol.items()}
    usable = {s: ks for s, ks in usable.items() if len(ks) > WARMUP_BARS}
    if not usable:
        return []
    frame = compute_features(bars_from_klines(usable, interval), sentiment, drop_warmup=True)
    times = frame.index.get_level_values("open_time")
    symbols = frame.index.get_level_values("symbol")
    after_recorded = np.array(
        [t.to_pydatetime() > max(after, recorded.get(s, after)) for t, s in zip(times, symbols, strict=True)],
        dtype=bool,
    )
    keep = (times > after) & after_recorded
    frame = frame[keep]
    if frame.empty:
        return []
    allowed = sorted(set(frame.index.get_level_values("open_time")))[: max(max_bar_times, 0)]
    frame = frame[frame.index.get_level_values("open_time").isin(allowed)]
    if frame.empty:
        return []
    matrix = frame.reindex(columns=list(FEATURE_NAMES)).to_numpy(dtype=np.float32)
    theirs = predict_proba(challenger.booster, matrix).tolist()
    ours = predict_proba(champion.booster, matrix).tolist() if champion is not None else [None] * len(frame)
    closes = {(s, k.open_time): float(k.close) for s, ks in usable.items() for k in ks}  # the close of each scored bar
    rows = []
    for (opened, symbol), mine, other in zip(frame.index, theirs, ours, strict=True):
        when = opened.to_pydatetime()
        rows.append(
            ShadowRow(
                symbol=str(symbol),
                open_time=when,
                close=closes[(symbol, when)],
                champion_version=champion.version if champion is not None else None,
                champion_proba=other,
                challenger_proba=mine,
            )
        )
    return rows


def settle(
    pending: Sequence[tuple[int, ShadowRow]],
    klines_by_symbol: Mapping[str, Sequence[Kline]],
    *,
    interval: str,
    horizon: int,
    threshold: float,
    now: datetime,
) -> dict[int, tuple[float, int]]:
    """row id -> (forward return, label) for the rows whose bar ``horizon`` bars later has closed."""
    step = interval_delta(interval)
    closes = {(s, k.open_time): float(k.close) for s, ks in klines_by_symbol.items() for k in closed(ks, now)}
    out: dict[int, tuple[float, int]] = {}
    for row_id, row in pending:
        later = closes.get((row.symbol, row.open_time + horizon * step))
        if later is None or row.close <= 0:
            continue
        forward = later / row.close - 1
        label = BUY if forward > threshold else SELL if forward < -threshold else HOLD
        out[row_id] = (forward, label)
    return out


def _judge(proba: np.ndarray, labels: np.ndarray, forward: np.ndarray, cost: float) -> dict[str, Any]:
    pred = np.argmax(proba, axis=1)
    net = np.where(pred == BUY, forward - cost, np.where(pred == SELL, -forward - cost, 0.0))
    return {
        "log_loss": log_loss(labels, proba),
        "net_return_per_bar": float(np.mean(net)),
        "net_return_total": float(np.sum(net)),
        "signals": int(np.sum(pred != HOLD)),
        "accuracy": float(np.mean(pred == labels)),
    }


def compare(rows: Sequence[ShadowRow], *, fee_bps: float) -> dict[str, Any]:
    """Champion and challenger on the settled rows; the challenger wins only if it is better on both
    log loss and net return (a tie keeps the champion)."""
    settled = [r for r in rows if r.forward_return is not None and r.label is not None]
    labels = np.array([r.label for r in settled], dtype=np.int64)
    forward = np.array([r.forward_return for r in settled], dtype=np.float64)
    cost = 2 * fee_bps / 10_000
    challenger = _judge(np.array([r.challenger_proba for r in settled]), labels, forward, cost)
    out: dict[str, Any] = {
        "rows": len(settled),
        "bar_times": len({r.open_time for r in settled}),
        "symbols": sorted({r.symbol for r in settled}),
        "fee_bps": fee_bps,
        "round_trip_cost": cost,
        "challenger": challenger,
    }
    if any(r.champion_proba is None for r in settled):
        out.update(champion=None, wins=True, reason="no usable champion was scored: nothing to beat")
        return out
    champion = _judge(np.array([r.champion_proba for r in settled]), labels, forward, cost)
    better_loss = challenger["log_loss"] < champion["log_loss"]
    better_net = challenger["net_return_per_bar"] > champion["net_return_per_bar"]
    figures = (
        f"log loss {challenger['log_loss']:.4f} vs {champion['log_loss']:.4f}, net return per bar "
        f"{challenger['net_return_per_bar']:+.4%} vs {champion['net_return_per_bar']:+.4%} "
        f"over {out['bar_times']} live bars ({len(settled)} symbol-bars, {fee_bps:g} bps fees)"
    )
    wins = better_loss and better_net
    if wins:
        reason = f"the challenger beat the champion on live bars: {figures}"
    else:
        lost = [name for name, ok in (("log loss", better_loss), ("net return", better_net)) if not ok]
        reason = f"the challenger did not beat the champion on {' and '.join(lost)}: {figures}"
    out.update(champion=champion, wins=wins, better_log_loss=better_loss, better_net_return=better_net, reason=reason)
    return out
