#!/usr/bin/env python3
"""Hydrate the klines table from the configured market source.

    python backend/scripts/data_pipeline.py --symbols BTCUSDT,ETHUSDT --interval 1h --days 90 [--dry-run]

Reads every closed bar of the window from QT_MARKET_DATA_SOURCE (simulated, binance or replay),
compares it with what the table holds and upserts by (source, symbol, interval, open_time). Prints
rows fetched, new, changed, unchanged and gaps found. Re-running changes nothing. ``--dry-run``
does the same reading and reporting and writes nothing: the database is opened read-only.

Exit status: 0 done, 1 some symbols failed (others were processed), 2 configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TextIO

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from scripts.project_env import enter

    enter(__file__)  # a fresh shell's python3 has none of the requirements: use .venv's

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from backend.market.errors import MarketDataError
from backend.market.factory import build_source
from backend.market.source import MarketDataSource, interval_delta, interval_seconds
from backend.market.store import KlineStore, find_gaps
from backend.market.types import Kline
from config.settings import ConfigError, Settings, load_settings
from database.session import make_engine, make_session_factory

PAGE = 1000  # Binance's maximum bars per klines call


@dataclass
class SymbolReport:
    symbol: str
    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    gaps: int = 0
    missing_bars: int = 0
    error: str | None = None


def fetch_window(
    source: MarketDataSource,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
    progress: Callable[[int], None] | None = None,
) -> list[Kline]:
    """Every closed bar with start <= open_time <= end, paging forward PAGE bars at a time."""
    step = interval_delta(interval)
    bars: list[Kline] = []
    cursor = start
    while cursor <= end:
        page = source.klines(symbol, interval, cursor, end, PAGE)
        page = [k for k in page if k.open_time >= cursor]
        if not page:
            break
        bars.extend(page)
        if progress is not None:
            progress(len(bars))
        cursor = page[-1].open_time + step
    return bars


def read_only_engine(url: str) -> Engine:
    """An engine that cannot change the database, nor leave files next to a SQLite one.

    SQLite: with no -wal file present, the file is opened ``immutable`` (no journal, no -shm/-wal
    created); with one present (a writer is live), ``mode=ro`` so committed WAL pages are read too.
    PostgreSQL: read-only transactions.
    """
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return make_engine(url, read_only=True)
    path = Path(parsed.database).resolve()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such database")
    flags = "mode=ro" if Path(f"{path}-wal").exists() else "mode=ro&immutable=1"
    return create_engine(f"sqlite:///file:{path}?{flags}&uri=true")


class Progress:
    """A one-line progress bar on a terminal stream (nothing when it is not a terminal)."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self._stream = stream
        self._enabled = enabled and stream.isatty()

    def update(self, label: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        width = 30
        ratio = min(done / total, 1.0) if total else 1.0
        bar = "#" * int(ratio * width)
        self._stream.write(f"\r{label:<14} [{bar:<{width}}] {ratio:6.1%} {done}/{total} bars")
        self._stream.flush()

    def finish(self) -> None:
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()


def run(
    argv: Sequence[str] | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    settings: Settings | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--symbols", help="comma-separated symbols (default: QUANTUM_TRADER_SYMBOLS)")
    parser.add_argument("--interval", help="bar interval (default: QT_MARKET_KLINE_INTERVAL)")
    parser.add_argument("--days", type=float, default=90.0, help="window length in days, ending now (default 90)")
    parser.add_argument("--database-url", help="database to hydrate (default: DATABASE_URL)")
    parser.add_argument("--dry-run", action="store_true", help="read and report only; write nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    try:
        settings = settings or load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=err)
        return 2
    interval = args.interval or settings.market.kline_interval
    try:
        interval_seconds(interval)
    except ValueError as exc:
        print(f"configuration error: --interval: {exc}", file=err)
        return 2
    if args.days <= 0:
        print("configuration error: --days must be positive", file=err)
        return 2
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()] if args.symbols else []
    symbols = symbols or list(settings.scheduler.symbols)
    url = args.database_url or settings.database.effective_url

    clock = clock or (lambda: datetime.now(UTC))
    now = clock()
    start = now - timedelta(days=args.days)
    try:
        source = build_source(settings.market, clock)
    except (MarketDataError, ValueError) as exc:
        print(f"configuration error: {exc}", file=err)
        return 2
    engine = read_only_engine(url) if args.dry_run else make_engine(url)
    store = KlineStore(make_session_factory(engine), clock)
    expected = max(int((now - start) / interval_delta(interval)), 1)
    bar = Progress(err, enabled=not args.no_progress)
    reports: list[SymbolReport] = []
    try:
        for symbol in symbols:
            report = SymbolReport(symbol)
            reports.append(report)
            try:
                bars = fetch_window(source, symbol, interval, start, now, partial(bar.update, symbol, total=expected))
                report.fetched = len(bars)
                gaps = find_gaps(bars, interval)
                report.gaps, report.missing_bars = len(gaps), sum(g.missing_bars for g in gaps)
                if args.dry_run:
                    plan = store.plan(source.name, symbol, interval, bars)
                else:
                    plan = store.upsert(source.name, symbol, interval, bars)
                report.new, report.changed, report.unchanged = len(plan.new), len(plan.changed), plan.unchanged
            except MarketDataError as exc:
                report.error = str(exc)
            bar.finish()
    finally:
        source.close()
        engine.dispose()

    mode = "dry run (nothing written)" if args.dry_run else "written"
    print(
        f"source={source.name} interval={interval} window={start:%Y-%m-%d %H:%M}..{now:%Y-%m-%d %H:%M} UTC {mode}",
        file=out,
    )
    print(f"{'symbol':<14}{'fetched':>9}{'new':>9}{'changed':>9}{'unchanged':>11}{'gaps':>6}  error", file=out)
    for r in reports:
        print(
            f"{r.symbol:<14}{r.fetched:>9}{r.new:>9}{r.changed:>9}{r.unchanged:>11}{r.gaps:>6}  {r.error or ''}",
            file=out,
        )
    total = SymbolReport(
        "total",
        fetched=sum(r.fetched for r in reports),
        new=sum(r.new for r in reports),
        changed=sum(r.changed for r in reports),
        unchanged=sum(r.unchanged for r in reports),
        gaps=sum(r.gaps for r in reports),
        missing_bars=sum(r.missing_bars for r in reports),
    )
    print(
        f"rows fetched: {total.fetched}, new: {total.new}, changed: {total.changed}, "
        f"unchanged: {total.unchanged}, gaps found: {total.gaps} ({total.missing_bars} missing bars)",
        file=out,
    )
    return 1 if any(r.error for r in reports) else 0


def main() -> int:
    return run()


if __name__ == "__main__":
    sys.exit(main())
