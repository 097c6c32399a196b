"""The backtest engine: drives the live services bar by bar on the backtest clock, in the scheduler's order.

At every bar the clock moves to the bar's close (the moment the bar becomes visible); on the
liquidity cadence the LiquidityService refreshes the universe (filters, ranking, the predictor's
signals, the blend); on the rebalance cadence every book runs one ExecutionService cycle (plan,
risk guard, paper fill, ledger); between cycles, at the `execution-resting` job's cadence
(QT_EXECUTION_RESTING_CHECK_SECONDS while maker_first or slicing is on, `resting_check_seconds`)
on the backtest clock, every book runs the job's check (maker timeouts finished with limit_ioc,
re-prices, due slices, resting orders filled by the bars that traded through them). Nothing here
decides, sizes, checks or fills an order: the books only differ in the weights they trade toward.
No wall clock and no sleep anywhere on the path.

Python API (used by the CLI, the worker and model governance's economic gate)::

    clock = BacktestClock(start)
    data = open_replay(folder, clock)          # or open_simulated(clock, interval=..., seed=...)
    result = run_backtest(BacktestConfig(start=..., end=...), data, clock, predictor=None)
    result.net_returns()                        # {"strategy": ..., "equal_weight": ..., ...}
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from backend.backtest.book import Book, Weights, build_book
from backend.backtest.clock import BacktestClock
from backend.backtest.coverage import coverage_warnings
from backend.backtest.data import BacktestData, BacktestInputError, check_range, first_close
from backend.backtest.inline import InlineExecutor, InlineLoop
from backend.backtest.results import (
    BASELINES,
    STRATEGY,
    ZERO,
    BacktestConfig,
    BacktestResult,
    BookResult,
    EquityPoint,
    SelectionRecord,
    fill_row,
    order_row,
)
from backend.backtest.universe import UniverseLog
from backend.execution.resting import resting_check_seconds
from backend.execution.snapshots import default_values, trading_values
from backend.execution.valuation import book_marks, marks_from_snapshot
from backend.liquidity.blend import quantize_weights
from backend.liquidity.selection import Selection
from backend.liquidity.service import LiquidityService, Predictor
from backend.market.service import MarketService
from backend.market.types import MarketSnapshot
from backend.observability.metrics import Metrics
from config.runtime import SettingsHolder
from config.settings import Settings, field_refs, load_settings

log = logging.getLogger(__name__)
MAX_CACHE_TTL = 86_400
MAX_EXECUTION_SECONDS = 604_800  # QUANTUM_TRADER_EXECUTION_SECONDS' upper bound
RUN_SECTIONS = frozenset({"market", "liquidity", "risk", "execution", "model"})  # what a run's path reads
LOCATIONS = ("_DIR", "_DB", "_URL", "_PATH", "_FILE")  # settings naming a place on the host: never shown

__all__ = [
    "BASELINES",
    "STRATEGY",
    "BacktestConfig",
    "BacktestResult",
    "InlineLoop",
    "run_backtest",
    "run_backtest_async",
]


def run_backtest(
    config: BacktestConfig,
    data: BacktestData,
    clock: BacktestClock,
    *,
    predictor: Predictor | None = None,
    settings: Settings | None = None,
    trades_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Run a backtest to the end (blocking). ``predictor`` None trades the liquidity-only blend."""
    with asyncio.Runner(loop_factory=InlineLoop) as runner:
        return runner.run(
            run_backtest_async(
                config, data, clock, predictor=predictor, settings=settings, trades_dir=trades_dir, progress=progress
            )
        )


def plan_times(config: BacktestConfig, data: BacktestData) -> list[datetime]:
    """The clock's visits: every bar close from start to end (inclusive), checked against the data."""
    step = data.step
    first_visit = data.first_open + step
    last_visit = data.last_open + step if data.last_open is not None else None
    start = config.start if config.start is not None else data.first_open + timedelta(days=1)
    if config.end is not None:
        end = config.end
    elif last_visit is not None:
        end = last_visit
    else:
        raise BacktestInputError("--end is required with the simulated source")
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None:
            raise BacktestInputError(f"--{name} must be UTC-aware")
    if end <= start:
        raise BacktestInputError(f"empty range: --end {end.isoformat()} is not after --start {start.isoformat()}")
    if start < first_visit or (last_visit is not None and end > last_visit):
        covered = f"{first_visit.isoformat()} .. {last_visit.isoformat() if last_visit else 'open'}"
        raise BacktestInputError(
            f"range {start.isoformat()} .. {end.isoformat()} is not covered by {data.description} ({covered})"
        )
    check_range(start, end, step, data.interval, simulated_from=data.first_open if data.last_open is None else None)
    times = []
    moment = first_close(start, step)  # the bar grid's first close at or after start
    while moment <= end:
        times.append(moment)
        moment += step
    if not times:
        raise BacktestInputError("empty range: no bar closes between --start and --end")
    return times


def run_overrides(config: BacktestConfig, data: BacktestData, *, model: bool = False) -> dict[str, Any]:
    """The settings a run sets on top of the environment (its data's interval, cadences, cash, fee, symbols and own)."""
    step = int(data.step.total_seconds())
    out: dict[str, Any] = {
        "QT_MARKET_KLINE_INTERVAL": data.interval,
        # with a model, the interval it scores (the predictor refuses a model of another) and fetches
        **({"QT_MODEL_INTERVAL": data.interval} if model else {}),
        # the snapshot stays in the market cache for --market-bars bars, as the refresh job would keep it
        "QT_MARKET_CACHE_TTL_SECONDS": min(max(config.market_bars * step - 1, 0), MAX_CACHE_TTL),
        # the rebalance cadence, as the scheduler's setting says it: a sliced order's TWAP window
        "QUANTUM_TRADER_EXECUTION_SECONDS": min(config.rebalance_bars * step, MAX_EXECUTION_SECONDS),
    }
    given: dict[str, Any] = {"QT_PAPER_STARTING_CASH": config.cash, "QT_PAPER_FEE_BPS": config.fee_bps}
    given["QT_LIQUIDITY_WHITELIST"] = ",".join(config.symbols) or None
    out.update({env: value for env, value in given.items() if value is not None})
    out.update(config.settings)
    return out


class _Run:
    """The state of one run: the shared market and liquidity services and the books."""

    def __init__(
        self,
        config: BacktestConfig,
        data: BacktestData,
        clock: BacktestClock,
        holder: SettingsHolder,
        predictor: Predictor | None,
        trades_dir: Path | None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.step = data.step
        self.source = data.source
        self.holder = holder
        self.metrics = Metrics()
        self.market = MarketService(data.source, lambda: holder.current.market, clock, self.metrics)
        self.books: dict[str, Book] = {}
        self.selections: list[SelectionRecord] = []
        self.universe = UniverseLog()
        self.hold_symbol: str | None = config.symbols[0] if config.symbols else None
        self.next_check: datetime | None = None  # the execution-resting job's next firing
        slippage = config.slippage_bps
        names = [STRATEGY, *config.baselines]
        liquidity: dict[str, LiquidityService] = {}
        for name in names:
            book = build_book(
                name,
                settings=holder,
                market=self.market,
                clock=clock,
                selection=self._selection_fn(name),
                slippage_bps=slippage,
                trades_log=trades_dir / f"trades-{name}.log" if trades_dir is not None else None,
                metrics=self.metrics,
            )
            self.books[name] = book
        # the selections a run makes are kept in self.selections: no liquidity_runs rows are stored
        liquidity[STRATEGY] = LiquidityService(
            holder,
            None,
            market=lambda: self.market,
            predictor=lambda: predictor,
            metrics=self.metrics,
            clock=clock,
        )
        if predictor is not None:
            liquidity["liquidity_only"] = LiquidityService(
                holder, None, market=lambda: self.market, metrics=self.metrics, clock=clock
            )
        else:
            liquidity["liquidity_only"] = liquidity[STRATEGY]
        self.liquidity = liquidity

    def _selection_fn(self, name: str) -> Callable[[], Weights]:
        def weights() -> Weights:
            return self.weights(name)

        return weights

    def _latest(self, key: str) -> Selection | None:
        return self.liquidity[key].latest_selection()

    def weights(self, name: str) -> Weights:
        """The weights each book trades toward; only the strategy's come from the model's blend."""
        if name == STRATEGY:
            chosen = self._latest(STRATEGY)
            return None if chosen is None else dict(chosen.weights)
        plain = self._latest("liquidity_only")
        if name == "liquidity_only":
            return None if plain is None else dict(plain.weights)
        if name == "equal_weight":
            if plain is None or not plain.picks:
                return None
            symbols = sorted(plain.symbols)
            equal = quantize_weights([1 / len(symbols)] * len(symbols), 1.0, True)
            return dict(zip(symbols, equal, strict=True))
        if name == "hold_first":
            if self.hold_symbol is None and plain is not None and plain.picks:
                self.hold_symbol = max(plain.picks, key=lambda p: (p.liquidity_score, p.symbol)).symbol
            return None if self.hold_symbol is None else {self.hold_symbol: Decimal(1)}
        raise ValueError(f"unknown book {name}")

    async def refresh_liquidity(self) -> None:
        seen: set[int] = set()
        for name, service in self.liquidity.items():
            if id(service) in seen:
                continue
            seen.add(id(service))
            selection = await service.refresh()
            if name == STRATEGY:
                self.universe.observe(self.clock(), selection)
        chosen = self._latest(STRATEGY)
        if chosen is not None and chosen.created_at == self.clock():
            self.selections.append(
                SelectionRecord(self.clock(), dict(chosen.weights), chosen.blend_mode, chosen.model_version)
            )

    async def rebalance(self) -> None:
        for book in self.books.values():
            await book.cycle()

    async def tend_resting(self) -> None:
        """The `execution-resting` job, for every book."""
        for book in self.books.values():
            await book.tend_resting()

    def resting_due(self, moment: datetime) -> bool:
        """The job fires every resting_check_seconds from the first visit (an interval trigger);
        a visit runs it when it fired since the visit before (the market only moves at a bar's
        close on this clock, so checking at the next visit sees what the job would have seen)."""
        seconds = resting_check_seconds(self.holder.current)
        if seconds <= 0:
            self.next_check = None
            return False
        every = timedelta(seconds=seconds)
        if self.next_check is None:
            self.next_check = moment
        if moment < self.next_check:
            return False
        while self.next_check <= moment:
            self.next_check += every
        return True

    async def marks(self) -> dict[str, Decimal]:
        """The prices the books are valued at for the curve: the market's at this bar's close, by
        ``marks_from_snapshot``'s rule (the book-top mid of a sane book, else the 24h ticker's last
        price), read from the source itself. With ``--market-bars`` above 1 the strategy trades on
        what its market cache still holds, but the curve is what the books are worth at each close
        (and the cache it trades on is left as it was). Only the symbols held are valued: the
        tickers are read only when one of them has no sane top."""
        held = {s for book in self.books.values() for s in book.holdings}
        if not held:
            return {}
        source = self.source
        some = getattr(source, "book_tops_of", None)  # the simulated market makes a few tops from arrays
        tops = some(tuple(held)) if some is not None else source.book_tops()
        marks = book_marks({s: t for s, t in tops.items() if s in held})
        if not held <= marks.keys():
            snapshot = MarketSnapshot(self.clock(), source.name, {}, source.tickers_24h(), tops)
            marks = marks_from_snapshot(snapshot)
        return {s: m.price for s, m in marks.items()}

    def close(self) -> None:
        for book in self.books.values():
            book.close()
        self.market.close()


async def run_backtest_async(
    config: BacktestConfig,
    data: BacktestData,
    clock: BacktestClock,
    *,
    predictor: Predictor | None = None,
    settings: Settings | None = None,
    trades_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    asyncio.get_running_loop().set_default_executor(InlineExecutor(max_workers=1))
    config.check()
    unknown = [s for s in config.symbols if s not in data.symbols]
    if unknown:
        raise BacktestInputError(f"unknown symbol {', '.join(unknown)} (the data has {', '.join(data.symbols)})")
    times = plan_times(config, data)
    warnings = coverage_warnings(data, times, config.symbols or data.symbols)  # said by the CLI and the report
    if predictor is not None:
        from backend.backtest.model import look_ahead_warnings  # only with a model: it imports xgboost

        warnings += look_ahead_warnings(predictor, times[0])
    overrides = run_overrides(config, data, model=predictor is not None)
    holder = SettingsHolder(settings if settings is not None else load_settings(), overrides)
    clock.set(max(clock(), times[0]))
    run = _Run(config, data, clock, holder, predictor, trades_dir)
    cash0 = holder.current.execution.paper_starting_cash
    # the curve starts one bar before the first decision, all cash: the first trades' costs show
    before = EquityPoint(times[0] - data.step, cash0, cash0, ZERO)
    curves: dict[str, list[EquityPoint]] = {name: [before] for name in run.books}
    marks: dict[str, Decimal] = {}
    try:
        for index, moment in enumerate(times):
            clock.set(moment)
            if index % config.liquidity_bars == 0:
                await run.refresh_liquidity()
            due = run.resting_due(moment)
            if index % config.rebalance_bars == 0:
                await run.rebalance()  # the cycle runs the same resting check first
            elif due:
                await run.tend_resting()
            marks = await run.marks()
            for name, book in run.books.items():
                equity, gross = book.equity(marks) if book.cycles else (cash0, ZERO)
                cash = book.cash if book.cycles else equity
                curves[name].append(EquityPoint(moment, equity, cash, gross))
            if progress is not None:
                progress(index + 1, len(times))
        books = {
            name: BookResult(
                name=name,
                equity=curves[name],
                orders=[order_row(o) for o in book.orders()],
                fills=[fill_row(f) for f in book.fills()],
                skipped=book.skipped,
                cycles=book.cycles,
                holdings=dict(book.holdings),
                marks={s: marks[s] for s in book.holdings if s in marks},
            )
            for name, book in run.books.items()
        }
    finally:
        run.close()
    symbols = len(config.symbols) or len(data.symbols)
    return BacktestResult(
        config=config,
        data=data.description,
        interval=data.interval,
        start=times[0],
        end=times[-1],
        bars=len(times),
        candles=len(times) * symbols,
        starting_cash=holder.current.execution.paper_starting_cash,
        books=books,
        selections=run.selections,
        settings={k: str(v) for k, v in overrides.items()},
        model="none" if predictor is None else str(getattr(predictor, "label", None) or predictor.active_version),
        # a walk-forward predictor's own: retrainings that gave no model to trade
        warnings=[*warnings, *run.universe.warnings(config.symbols), *getattr(predictor, "warnings", list)()],
        trainings=list(getattr(predictor, "trainings", None) or []),
        applied=applied_settings(holder),
        fee_bps=holder.current.execution.paper_fee_bps,
        retrain_days=getattr(predictor, "retrain_days", None),
        hold_symbol=run.hold_symbol if "hold_first" in run.books else None,
    )


def applied_settings(holder: SettingsHolder) -> dict[str, Any]:
    """What shaped the run beyond the defaults: every setting of the sections its path reads whose
    effective value is not its default, and every setting the run set (JSON). No secret, and no
    path or URL of the host: the report is public. Compared with the defaults, not by where a value
    came from: the worker's settings arrive as a whole through a pipe."""
    refs, overrides = field_refs(), holder.overrides
    names = [
        env
        for env, ref in refs.items()
        if (ref.section in RUN_SECTIONS or env in overrides) and not ref.secret and not env.endswith(LOCATIONS)
    ]
    current, defaults = trading_values(holder, names), default_values(names)
    return {env: current[env] for env in sorted(names) if env in overrides or current[env] != defaults[env]}
