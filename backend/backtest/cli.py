"""``python -m backend.backtest``: run the strategy and its baselines over history, write --out DIR.

Exit status as the training CLI: 0 done, 1 the run failed (data or engine problem), 2 bad input
or configuration (one line on stderr naming what is wrong).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

SOURCES = "simulated | replay:DIR | database[:LABEL]"


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time (e.g. 2024-03-01)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite, non-negative number")
    return value


def _slippage(text: str) -> Decimal | None:
    return None if text == "book" else _decimal(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m backend.backtest",
        description="Backtest the strategy (the service's own trading path) and its baselines over history.",
    )
    p.add_argument("--source", default="simulated", help=f"where bars come from: {SOURCES} (default simulated)")
    p.add_argument("--interval", default=None, help="bar interval (default: the files', or 1h when simulated)")
    p.add_argument("--start", type=_time, default=None, help="first decision time, ISO, UTC (default: data + 1 day)")
    p.add_argument("--end", type=_time, default=None, help="last decision time, ISO, UTC (default: end of data)")
    p.add_argument("--symbols", default=None, help="comma-separated symbols (default: the universe the filters select)")
    p.add_argument("--market-bars", type=int, default=1, help="market refresh cadence in bars (default 1)")
    p.add_argument("--liquidity-bars", type=int, default=4, help="universe refresh cadence in bars (default 4)")
    p.add_argument("--rebalance-bars", type=int, default=4, help="rebalance cadence in bars (default 4)")
    p.add_argument("--cash", type=_decimal, default=None, help="starting cash (default QT_PAPER_STARTING_CASH)")
    p.add_argument("--fee-bps", type=_decimal, default=None, help="taker fee in bps (default QT_PAPER_FEE_BPS)")
    p.add_argument("--slippage", type=_slippage, default=None, help="'book' (walk the paper book, default) or bps")
    p.add_argument(
        "--model", default="none", help="none (default) | VERSION (a trained model, from DATABASE_URL) | walk-forward"
    )
    p.add_argument("--retrain-days", type=int, default=30, help="walk-forward: retrain every N days (default 30)")
    p.add_argument("--baselines", default="equal_weight,liquidity_only,hold_first", help="baselines to run alongside")
    p.add_argument("--seed", type=int, default=42, help="seed of the simulated market (default 42)")
    p.add_argument(
        "--out", type=Path, default=None, help="write metrics.json, equity.csv, orders.csv, fills.csv, report.html"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--compare-live",
        action="store_true",
        help="drift report: replay the market snapshots the live service recorded in --start..--end (DATABASE_URL) "
        "and diff the orders, fills, slippage and PnL against the ledger",
    )
    return p


def _fail(message: str, code: int) -> int:
    print(f"backtest: {message}", file=sys.stderr)
    return code


def summary_table(content: dict[str, Any]) -> str:
    cols = ("total_return", "cagr", "sharpe", "max_drawdown", "fees", "orders", "exposure_avg")
    lines = [f"{'book':<16}" + "".join(f"{c:>14}" for c in cols)]
    for name, m in content["metrics"].items():
        cells = []
        for c in cols:
            v = m.get(c)
            if v is None:
                cells.append(f"{'-':>14}")
            elif c in ("total_return", "cagr", "max_drawdown", "exposure_avg"):
                cells.append(f"{v * 100:>13.2f}%")
            elif c == "orders":
                cells.append(f"{v:>14,}")
            else:
                cells.append(f"{v:>14,.3f}")
        lines.append(f"{name:<16}" + "".join(cells))
    return "\n".join(lines)


def _database(args: argparse.Namespace, settings: Any, clock: Any, symbols: tuple[str, ...], stack: ExitStack) -> Any:
    """database[:LABEL]: the klines of DATABASE_URL stored under LABEL (default QT_MARKET_DATA_SOURCE)."""
    from backend.backtest.data import open_database
    from database.session import make_engine, make_session_factory

    label = args.source.partition(":")[2] or settings.market.source.value
    engine = make_engine(settings.database.effective_url)
    stack.callback(engine.dispose)
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qt-backtest-db-")))
    interval = args.interval or settings.market.kline_interval
    return open_database(make_session_factory(engine), clock, folder, label=label, interval=interval, symbols=symbols)


def _compare_live(args: argparse.Namespace, settings: Any) -> int:
    """--compare-live: the drift report over --start..--end of DATABASE_URL's recorded cycles."""
    import json

    from backend.backtest.drift import compare_live, format_report
    from database.session import make_engine, make_session_factory

    if args.start is None or args.end is None:
        return _fail("--compare-live needs --start and --end", 2)
    if args.end <= args.start:
        return _fail(f"empty range: --end {args.end.isoformat()} is not after --start {args.start.isoformat()}", 2)
    engine = make_engine(settings.database.effective_url)
    try:
        report = compare_live(settings, make_session_factory(engine), args.start, args.end)
    except Exception as exc:
        return _fail(f"failed: {type(exc).__name__}: {exc}", 1)
    finally:
        engine.dispose()
    if report.cycles == 0:
        return _fail(f"no market snapshots recorded between {args.start.isoformat()} and {args.end.isoformat()}", 2)
    print(format_report(report))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "drift.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from backend.backtest.clock import BacktestClock
    from backend.backtest.data import BacktestInputError, open_replay, open_simulated
    from backend.backtest.engine import BacktestConfig, run_backtest
    from backend.backtest.output import summary, write_outputs
    from backend.market.errors import MarketDataError
    from backend.market.source import interval_seconds
    from config.settings import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    if args.compare_live:
        return _compare_live(args, settings)
    if args.retrain_days < 1:
        return _fail("--retrain-days must be at least 1", 2)
    if args.interval is not None:
        try:
            interval_seconds(args.interval)
        except ValueError as exc:
            return _fail(str(exc), 2)
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()) if args.symbols else ()
    baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip() and b.strip() != "none")
    clock = BacktestClock(args.start or datetime(1970, 1, 2, tzinfo=UTC))
    stack = ExitStack()
    try:
        if args.source == "simulated":
            data = open_simulated(clock, interval=args.interval or "1h", seed=args.seed)
        elif args.source.startswith("replay:"):
            data = open_replay(Path(args.source.removeprefix("replay:")), clock, interval=args.interval)
        elif args.source == "database" or args.source.startswith("database:"):
            data = _database(args, settings, clock, symbols, stack)
        else:
            return _fail(f"--source {args.source!r} is not one of {SOURCES}", 2)
        config = BacktestConfig(
            start=args.start,
            end=args.end,
            symbols=symbols,
            market_bars=args.market_bars,
            liquidity_bars=args.liquidity_bars,
            rebalance_bars=args.rebalance_bars,
            cash=args.cash,
            fee_bps=args.fee_bps,
            slippage_bps=args.slippage,
            baselines=baselines,
        )
        bar = None
        if not args.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=0, unit="bar", desc="backtest", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.update(done - bar.n)

        from backend.backtest.inline import tune_collector

        tune_collector()
        t0 = time.perf_counter()
        engine = None
        try:
            predictor: Any = None
            if args.model == "walk-forward":
                from backend.backtest.walkforward import WalkForwardPredictor
                from config.runtime import SettingsHolder

                predictor = WalkForwardPredictor(data, clock, SettingsHolder(settings), args.retrain_days)
                stack.callback(predictor.close)
            elif args.model != "none":
                from ai_engine.registry import ModelRegistry
                from backend.backtest.model import pinned_predictor
                from config.runtime import SettingsHolder
                from database.session import make_engine, make_session_factory

                engine = make_engine(settings.database.effective_url)
                registry = ModelRegistry(settings.model.artifacts_dir, make_session_factory(engine))
                predictor = pinned_predictor(registry, args.model, SettingsHolder(settings), clock)
            result = run_backtest(config, data, clock, predictor=predictor, settings=settings, progress=progress)
        finally:
            if bar is not None:
                bar.close()
            if engine is not None:
                engine.dispose()
        elapsed = time.perf_counter() - t0
    except BacktestInputError as exc:
        return _fail(str(exc), 2)
    except ConfigError as exc:
        return _fail("; ".join(exc.problems), 2)
    except MarketDataError as exc:
        return _fail(f"data problem: {exc}", 1)
    except Exception as exc:
        return _fail(f"failed: {type(exc).__name__}: {exc}", 1)
    finally:
        stack.close()
    content = write_outputs(result, args.out) if args.out is not None else summary(result)
    print(summary_table(content))
    for line in content["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    rate = result.candles / elapsed if elapsed > 0 else 0.0
    print(
        f"{result.bars:,} bars × {result.candles // max(result.bars, 1)} symbols = {result.candles:,} candles"
        f" in {elapsed:.1f} s ({rate:,.0f} candles/s)" + (f"; files in {args.out}" if args.out is not None else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
