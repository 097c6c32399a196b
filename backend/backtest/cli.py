"""``python -m backend.backtest``: run the strategy and its baselines over history, write --out DIR.

Exit status as the training CLI: 0 done, 1 the run failed (data or engine problem), 2 bad input
or configuration (one line on stderr naming what is wrong), checked before any work: the flags
(a usage error is one line, not the usage block), --out (created and probed for writing), a
replay folder, and DATABASE_URL's schema when the run reads it.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.backtest.cli_args import bounds_problem, build_parser, database_problem
from backend.output_dir import writable_dir

__all__ = ["build_parser", "main", "quote_amount", "summary_table"]


def _fail(message: str, code: int) -> int:
    print(f"backtest: {message}", file=sys.stderr)
    return code


def _failure(exc: BaseException) -> str:
    """An unexpected error in one line (SQLAlchemy's carry the statement and a link on lines of their own)."""
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def quote_amount(value: float) -> str:
    """A quote-asset amount for the table: 6 significant digits, at most 8 decimals (BTC's satoshi),
    trailing zeros trimmed: 0.00213456 (BTC), 1,234.57 (USDT), 0; below a satoshi, 4e-09 (not 0)."""
    if not math.isfinite(value) or value == 0:
        return "0" if value == 0 else str(value)
    decimals = min(8, max(0, 5 - math.floor(math.log10(abs(value)))))
    text = f"{value:,.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return f"{value:.2g}" if text in ("0", "-0") else text


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
            elif c == "fees":
                cells.append(f"{quote_amount(v):>14}")
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
    spread = settings.market.replay_spread_bps
    sessions = make_session_factory(engine)
    return open_database(sessions, clock, folder, label=label, interval=interval, symbols=symbols, spread_bps=spread)


def _compare_live(args: argparse.Namespace, settings: Any) -> int:
    """--compare-live: the drift report over --start..--end of DATABASE_URL's recorded cycles."""
    import json

    from backend.backtest.drift import compare_live, format_report
    from database.session import make_engine, make_session_factory

    if args.start is None or args.end is None:
        return _fail("--compare-live needs --start and --end", 2)
    if args.end <= args.start:
        return _fail(f"empty range: --end {args.end.isoformat()} is not after --start {args.start.isoformat()}", 2)
    problem = database_problem(settings)
    if problem is not None:
        return _fail(problem, 2)
    engine = make_engine(settings.database.effective_url)
    try:
        report = compare_live(settings, make_session_factory(engine), args.start, args.end)
    except Exception as exc:
        return _fail(f"failed: {_failure(exc)}", 1)
    finally:
        engine.dispose()
    if report.cycles == 0:
        return _fail(f"no market snapshots recorded between {args.start.isoformat()} and {args.end.isoformat()}", 2)
    print(format_report(report))
    if args.out is not None:
        try:
            (args.out / "drift.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            return _fail(f"cannot write drift.json into --out {args.out}: {exc.strerror or exc}", 1)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a usage error (2) already said in one line
        return exc.code if isinstance(exc.code, int) else 2
    if args.out is not None:  # created and probed once every flag parsed: a usage error leaves no folder
        try:
            args.out = writable_dir(str(args.out))
        except argparse.ArgumentTypeError as exc:
            return _fail(f"argument --out: {exc} (see --help)", 2)

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
        for line in exc.problems:
            print(f"configuration error: {line}", file=sys.stderr)
        return 2
    problem = bounds_problem(args)
    if problem is not None:
        return _fail(problem, 2)
    if args.compare_live:
        return _compare_live(args, settings)
    if args.interval is not None:
        try:
            interval_seconds(args.interval)
        except ValueError as exc:
            return _fail(str(exc), 2)
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()) if args.symbols else ()
    baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip() and b.strip() != "none")
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
    try:
        config.check()
    except BacktestInputError as exc:
        return _fail(str(exc), 2)
    # only a database source and a recorded model read DATABASE_URL (walk-forward trains into a scratch registry)
    if args.source.partition(":")[0] == "database" or args.model not in ("none", "walk-forward"):
        problem = database_problem(settings)
        if problem is not None:
            return _fail(problem, 2)
    clock = BacktestClock(args.start or datetime(1970, 1, 2, tzinfo=UTC))
    stack = ExitStack()
    try:
        if args.source == "simulated":
            data = open_simulated(clock, interval=args.interval or "1h", seed=args.seed)
        elif args.source.startswith("replay:"):
            folder = Path(args.source.removeprefix("replay:")).expanduser()
            data = open_replay(folder, clock, interval=args.interval, spread_bps=settings.market.replay_spread_bps)
        else:
            data = _database(args, settings, clock, symbols, stack)
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
            if args.model != "none":
                from backend.backtest.model import run_settings

                # the model is trained (walk-forward) and scored with the run's settings: its fees, cash, interval
                holder = run_settings(settings, config, data)
            if args.model == "walk-forward":
                from backend.backtest.walkforward import WalkForwardPredictor

                predictor = WalkForwardPredictor(data, clock, holder, args.retrain_days)
                stack.callback(predictor.close)
            elif args.model != "none":
                from ai_engine.registry import ModelRegistry
                from backend.backtest.model import pinned_predictor
                from database.session import make_engine, make_session_factory

                engine = make_engine(settings.database.effective_url)
                registry = ModelRegistry(settings.model.artifacts_dir, make_session_factory(engine))
                predictor = pinned_predictor(registry, args.model, holder, clock)
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
        return _fail(f"failed: {_failure(exc)}", 1)
    finally:
        stack.close()
    failed, content = None, None
    try:
        content = write_outputs(result, args.out) if args.out is not None else None
    except OSError as exc:
        failed = f"cannot write the files into --out {args.out}: {exc.strerror or exc}"
        failed += f" ({exc.filename})" if exc.filename else ""
    except Exception as exc:
        failed = f"writing the files into --out {args.out} failed: {_failure(exc)}"
    content = content or summary(result)  # with the files unwritten, the run's table is still shown
    print(summary_table(content))
    for line in content["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    if failed is not None:
        return _fail(failed, 1)
    rate = result.candles / elapsed if elapsed > 0 else 0.0
    print(
        f"{result.bars:,} bars × {result.candles // max(result.bars, 1)} symbols = {result.candles:,} candles"
        f" in {elapsed:.1f} s ({rate:,.0f} candles/s)" + (f"; files in {args.out}" if args.out is not None else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
