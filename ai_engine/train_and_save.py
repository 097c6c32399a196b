#!/usr/bin/env python3
"""Train, evaluate and save a model: ``python ai_engine/train_and_save.py --output-dir artifacts``.

Walk-forward evaluation against the baselines, a final fit, an atomic artifact under
``<output-dir>/models/<version>/`` and a ModelTrainingRun row in the configured database
(DATABASE_URL; run ``alembic upgrade head`` first). Exit status: 0 when the run completed (whether
or not it was activated), 1 when it failed (the reason is printed and recorded), 2 for bad
configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script path (python ai_engine/train_and_save.py): Python put ai_engine/ first on
    # sys.path, where signal.py would shadow the standard library's; put the repository root there.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    from scripts.project_env import enter

    enter(__file__)  # a fresh shell's python3 has none of the requirements: use .venv's

import argparse
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from backend.output_dir import writable_dir

if TYPE_CHECKING:
    from config.settings import Settings

INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


def bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (the bounds of the matching QT_MODEL_* setting)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def symbol_list(text: str) -> list[str]:
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    bad = [s for s in symbols if not SYMBOL.match(s)]
    if bad or not symbols:
        raise argparse.ArgumentTypeError(f"each symbol is 2-20 letters or digits (got {', '.join(bad) or 'none'})")
    return list(dict.fromkeys(symbols))


def source_spec(text: str) -> str:
    if text in ("simulated", "binance", "database"):
        return text
    if text.startswith("replay:"):
        path = Path(text.removeprefix("replay:")).expanduser()
        if not (path.is_dir() or path.is_file()):
            raise argparse.ArgumentTypeError(f"replay path {path} does not exist (a directory of SYMBOL.csv files)")
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: accepted: simulated, binance, database, replay:DIR, replay:FILE")


def unknown_symbols(source: str, symbols: list[str], settings: Settings, interval: str) -> str | None:
    """Symbols the chosen source does not have, checked before a run is recorded (None: all known).

    simulated: the simulated market's symbols; replay: the files; database: the symbols the klines
    table holds for the configured source and the interval; binance: the exchange's symbol list."""
    if source == "simulated":
        from backend.market.sources.simulated import SimulatedMarket

        known = set(SimulatedMarket(settings.market.sim_seed).symbol_rules())
        where = "the simulated market"
    elif source.startswith("replay:"):
        path = Path(source.removeprefix("replay:")).expanduser()
        known = {path.stem.upper()} if path.is_file() else {p.stem.upper() for p in path.glob("*.csv")}
        where = f"replay path {path}"
    elif source == "database":
        try:
            known = _database_symbols(settings, interval)
        except Exception as exc:
            return f"the database cannot be read ({type(exc).__name__}); run `alembic upgrade head` first?"
        where = f"the klines table (source {settings.market.source.value}, interval {interval})"
    else:
        from backend.market.sources.binance import BinanceMarketSource

        market = BinanceMarketSource.from_settings(settings)
        try:
            known = set(market.symbol_rules())
        except Exception as exc:
            return f"binance: could not list symbols ({type(exc).__name__}: {exc})"
        finally:
            market.close()
        where = f"binance ({settings.market.binance_api_url})"
    missing = [s for s in symbols if s not in known]
    return f"{where} has no symbol {', '.join(missing)}" if missing else None


def _database_symbols(settings: Settings, interval: str) -> set[str]:
    from sqlalchemy import select

    from database.models.market import KlineRow
    from database.session import make_engine

    engine = make_engine(settings.database.effective_url)
    try:
        with engine.connect() as conn:
            query = (
                select(KlineRow.symbol)
                .where(KlineRow.source == settings.market.source.value, KlineRow.interval == interval)
                .distinct()
            )
            return set(conn.scalars(query))
    finally:
        engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train_and_save.py",
        description="Train the BUY/HOLD/SELL model with walk-forward evaluation and save a governed artifact.",
    )
    parser.add_argument(
        "--output-dir",
        type=writable_dir,
        default=None,
        help="artifacts directory (models/<version>/ goes inside); default QT_MODEL_ARTIFACTS_DIR",
    )
    parser.add_argument(
        "--source",
        type=source_spec,
        default=None,
        help="simulated | binance | replay:DIR | replay:FILE | database (default: QT_MARKET_DATA_SOURCE)",
    )
    parser.add_argument(
        "--symbols",
        type=symbol_list,
        default=None,
        help="comma-separated symbols (default: QT_MODEL_TRAIN_SYMBOLS or top 20)",
    )
    parser.add_argument("--interval", choices=INTERVALS, default=None, help="bar interval (default: QT_MODEL_INTERVAL)")
    parser.add_argument(
        "--days", type=bounded(1, 3650), default=None, help="days of history, 1..3650 (default: QT_MODEL_TRAIN_DAYS)"
    )
    parser.add_argument(
        "--horizon",
        type=bounded(1, 500),
        default=None,
        help="label horizon in bars, 1..500 (default: QT_MODEL_HORIZON_BARS)",
    )
    parser.add_argument(
        "--seed", type=bounded(0, 2**32 - 1), default=None, help="training seed (default: QT_MODEL_SEED)"
    )
    parser.add_argument(
        "--activate",
        choices=["auto", "never", "force"],
        default="auto",
        help="auto: only if every activation gate passes (default); force: activate anyway, recording the failed gates",
    )
    parser.add_argument("--database-url", default=None, help="record the run in this database instead of DATABASE_URL")
    parser.add_argument("--quiet", action="store_true", help="print only the outcome")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # a usage error exits 2 here: nothing is trained or recorded

    from ai_engine.dataset import DataError
    from ai_engine.registry import ModelRegistry
    from ai_engine.training import ActivationPolicy, TrainingRequest, train
    from config.settings import ConfigError, load_settings
    from database.session import make_engine, make_session_factory

    overrides: dict[str, dict[str, object]] = {}
    if args.output_dir is not None:
        overrides["model"] = {"QT_MODEL_ARTIFACTS_DIR": str(args.output_dir)}
    if args.database_url:
        overrides["database"] = {"DATABASE_URL": args.database_url}
    try:
        settings = load_settings(overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    symbols: list[str] | None = args.symbols
    source = str(args.source or settings.market.source.value)
    interval = str(args.interval or settings.model.interval)
    unknown = unknown_symbols(source, symbols, settings, interval) if symbols else None
    if unknown:
        parser.error(f"argument --symbols: {unknown}")
    request = TrainingRequest(
        source=args.source,
        symbols=symbols,
        interval=args.interval,
        days=args.days,
        horizon=args.horizon,
        seed=args.seed,
        activate=ActivationPolicy(args.activate),
    )
    t0 = time.perf_counter()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:7.1f}s] {message}", flush=True)

    engine = make_engine(settings.database.effective_url)
    try:
        registry = ModelRegistry(
            settings.model.artifacts_dir, make_session_factory(engine), interval=settings.model.interval
        )
        outcome = train(request, settings, registry, progress=progress)
    except DataError as exc:
        print(f"training failed: data problem: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"model {outcome.run.version}: {outcome.activation_reason}; saved {outcome.run.model_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
