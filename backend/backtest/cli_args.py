"""The backtest CLI's arguments: the parser (a usage error is one line), the flags' types and the
checks made before any work (--out probed for writing, a replay folder, the API's bounds,
DATABASE_URL's schema when the run reads it). ``backend/backtest/cli.py`` runs them.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

SOURCES = "simulated | replay:DIR | database[:LABEL]"
REPLAY_HINT = "replay:DIR takes a folder of SYMBOL.csv files"


class Parser(argparse.ArgumentParser):
    """A usage error is one line on stderr (exit 2), not the usage block and then the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"backtest: {message} (see --help)\n")


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
    if text == "book":
        return None
    try:
        return _decimal(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'book' nor a non-negative number of bps") from None


def _replay_folder(text: str) -> str | None:
    """Why ``replay:TEXT`` names no folder of SYMBOL.csv files (None: it does).

    Checked before the replay source reads the files, so that what it raises then (ReplayFileError)
    is a problem of the files' content, a data problem (exit 1), never a bad path (exit 2)."""
    if not text:
        return f"replay: names no folder ({REPLAY_HINT})"
    path = Path(text).expanduser()
    if not path.exists():
        return f"{path} does not exist ({REPLAY_HINT})"
    if not path.is_dir():
        return f"{path} is not a directory ({REPLAY_HINT})"
    try:
        found = any(p.is_file() for p in path.glob("*.csv"))
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror or exc})"
    return None if found else f"{path} holds no SYMBOL.csv files ({REPLAY_HINT})"


def _source(text: str) -> str:
    if text == "simulated" or text == "database" or text.startswith("database:"):
        return text
    if text.startswith("replay:"):
        problem = _replay_folder(text.removeprefix("replay:"))
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not one of {SOURCES}")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m backend.backtest",
        description="Backtest the strategy (the service's own trading path) and its baselines over history.",
    )
    p.add_argument(
        "--source", type=_source, default="simulated", help=f"where bars come from: {SOURCES} (default simulated)"
    )
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
        "--out",
        type=Path,
        default=None,
        help="write metrics.json, equity.csv, orders.csv, fills.csv, report.html (created and probed first)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--compare-live",
        action="store_true",
        help="drift report: replay the market snapshots the live service recorded in --start..--end (DATABASE_URL) "
        "and diff the orders, fills, slippage and PnL against the ledger",
    )
    return p


def bounds_problem(args: argparse.Namespace) -> str | None:
    """The API's bounds (backend/backtest/request.py) on the flags argparse parses but does not bound."""
    from backend.backtest.request import MAX_BPS, MAX_SEED

    if not 0 <= args.seed <= MAX_SEED:
        return f"--seed must be a non-negative integer, at most {MAX_SEED} (got {args.seed})"
    if args.fee_bps is not None and args.fee_bps > MAX_BPS:
        return f"--fee-bps must be between 0 and {MAX_BPS} bps (got {args.fee_bps})"
    if args.slippage is not None and args.slippage > MAX_BPS:
        return f"--slippage must be 'book' or between 0 and {MAX_BPS} bps (got {args.slippage})"
    if args.retrain_days < 1:
        return "--retrain-days must be at least 1"
    return None


def database_problem(settings: Any) -> str | None:
    """DATABASE_URL must be at the migrations' head before a run reads it: the service's start-up
    check (backend/preflight.py; a missing SQLite file is named, not created), then, with
    QT_AUTO_MIGRATE=1, the migration the service's start-up runs."""
    from backend.preflight import schema_problems
    from database.schema_gate import SchemaNotCurrent, ensure_current
    from database.session import make_engine

    problems = schema_problems(settings)
    if problems:
        return problems[0]
    db = settings.database
    engine = make_engine(db.effective_url)
    try:
        ensure_current(engine, db.effective_url, auto_migrate=db.auto_migrate, read_only=db.read_only)
    except SchemaNotCurrent as exc:
        return str(exc)
    finally:
        engine.dispose()
    return None
