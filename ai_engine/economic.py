"""The economic gate: does the model make the service money, net of costs, out of sample?

For every evaluated walk-forward fold, the booster fitted on that fold's training window trades its
test window through the backtest engine (backend.backtest: the live liquidity, execution, risk and
paper-exchange services on a simulated clock, with the configured fees, the paper book's slippage
and the replay source's QT_REPLAY_SPREAD_BPS; the booster is given the sentiment the live predictor
is given, read on the backtest clock: backend.backtest.model.BacktestSentiment), and so does the
same universe blend without the model (the engine's ``liquidity_only`` book). The gate passes when,
over the folds, the model's net return beats liquidity-only's in total, in at least half the folds,
and still in total without its single best fold — a model that wins by the luck of one window does
not pass. Every fold's figures are recorded.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import xgboost as xgb

from ai_engine.features import Bars, bars_from_klines, interval_delta
from ai_engine.gates import Gate
from ai_engine.latest import latest_features_fast
from ai_engine.registry import LoadedModel
from ai_engine.signal import Signal
from backend.market.types import Kline
from config.settings import Settings


@dataclass(frozen=True)
class FoldModel:
    number: int
    booster: xgb.Booster
    test_start: datetime  # first test bar's open time
    test_end: datetime  # last test bar's open time


class FoldPredictor:
    """What the liquidity service needs from a predictor, for one fold's booster (no registry)."""

    def __init__(
        self,
        booster: xgb.Booster,
        version: str,
        interval: str,
        sentiment: Callable[[], pd.Series | None] | None = None,
    ) -> None:
        now = datetime.now(UTC)
        self._model = LoadedModel(version, booster, {"interval": interval}, now, "", Path())
        self._sentiment = sentiment  # as the live Predictor's: the reading at the (backtest) clock's moment
        self.active_version: str | None = version

    def predict(self, klines_by_symbol: Mapping[str, Sequence[Kline]]) -> dict[str, Signal]:
        from ai_engine.predictor import Predictor

        usable = {s: ks for s, ks in klines_by_symbol.items() if ks}
        bars = bars_from_klines(usable, str(self._model.metadata["interval"]))
        frame = latest_features_fast(bars, None if self._sentiment is None else self._sentiment())
        signals, _counts = Predictor._score(self._model, frame)
        return signals


def _replay_dir(source: str, bars: Bars, workdir: Path) -> Path:
    """A replay directory holding the training bars: the source's own files when it is one."""
    target = source.partition(":")[2]
    if source.startswith("replay:") and Path(target).is_dir():
        return Path(target)
    folder = workdir / "replay"
    folder.mkdir()
    if source.startswith("replay:") and Path(target).is_file():
        shutil.copyfile(target, folder / Path(target).name)
        return folder
    for j, symbol in enumerate(bars.symbols):
        frame = pd.DataFrame(
            {
                "open_time": bars.times.as_unit("ms").asi8,
                **{name: getattr(bars, name)[:, j] for name in ("open", "high", "low", "close", "volume")},
            }
        ).dropna()
        frame.to_csv(folder / f"{symbol}.csv", index=False, float_format="%.10g")
    return folder


def economic_gate(
    folds: Sequence[FoldModel],
    bars: Bars,
    source: str,
    settings: Settings,
    *,
    horizon: int,
    progress: Callable[[str], None] | None = None,
) -> Gate:
    """Trade each fold's test window with and without the model; the gate over the per-fold results."""
    from backend.backtest.clock import BacktestClock
    from backend.backtest.data import open_replay, open_simulated
    from backend.backtest.engine import BacktestConfig, run_backtest
    from backend.backtest.model import BacktestSentiment

    say = progress or (lambda _m: None)
    step = interval_delta(bars.interval)
    rows: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix="qt-economic-"))
    try:
        folder = None if source == "simulated" else _replay_dir(source, bars, workdir)
        for fold in folds:
            start, end = fold.test_start + step, fold.test_end + step  # decisions at bar closes
            clock = BacktestClock(start)
            if folder is None:
                data = open_simulated(clock, interval=bars.interval, seed=settings.market.sim_seed)
            else:
                data = open_replay(folder, clock, interval=bars.interval, spread_bps=settings.market.replay_spread_bps)
            config = BacktestConfig(
                start=start,
                end=end,
                symbols=tuple(bars.symbols),
                liquidity_bars=horizon,
                rebalance_bars=horizon,
                baselines=("liquidity_only",),
            )
            sentiment = BacktestSentiment(settings.market, clock)
            predictor = FoldPredictor(fold.booster, f"fold-{fold.number}", bars.interval, sentiment)
            result = run_backtest(config, data, clock, predictor=predictor, settings=settings)
            returns = result.net_returns()
            model, plain = returns["strategy"], returns["liquidity_only"]
            rows.append(
                {
                    "fold": fold.number,
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "bars": result.bars,
                    "model_net_return": model,
                    "liquidity_only_net_return": plain,
                    "excess": model - plain,
                    "model_orders": len(result.books["strategy"].orders),
                }
            )
            say(f"economic gate, fold {fold.number}: model {model:+.4%} vs liquidity-only {plain:+.4%} net")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return judge(rows, fee_bps=float(settings.execution.paper_fee_bps))


def judge(rows: list[dict[str, Any]], *, fee_bps: float) -> Gate:
    """Pass when the excess net return is positive in total, in at least half the folds, and without
    the best fold."""
    if not rows:
        return Gate("economic", False, "no fold could be traded")
    excess = [float(r["excess"]) for r in rows]
    total = sum(excess)
    wins = sum(1 for e in excess if e > 0)
    without_best = total - max(excess)
    passed = total > 0 and wins * 2 >= len(excess) and (len(excess) == 1 or without_best > 0)
    verdict = "beats" if passed else "does not beat"
    reason = (
        f"traded with {fee_bps:g} bps fees, the model's blend {verdict} liquidity-only: excess net return "
        f"{total:+.4%} over {len(rows)} folds, better in {wins}, {without_best:+.4%} without the best fold"
    )
    model = sum(float(r["model_net_return"]) for r in rows)
    plain = sum(float(r["liquidity_only_net_return"]) for r in rows)
    return Gate("economic", passed, reason, model, plain, {"folds": rows, "fee_bps": fee_bps})
