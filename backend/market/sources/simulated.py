"""A deterministic simulated spot market: ~40 USDT symbols plus the symbols a universe must reject.

The model (see docs/market.md):
- Days are the backbone. From EPOCH (2024-01-01 UTC) each symbol's daily log return is
  ``beta * F_d + s * exp(h_d) * z_d``: a common market factor ``F_d`` (itself with stochastic
  volatility) plus idiosyncratic noise; ``h_d`` is an AR(1) log-volatility (volatility clustering)
  and ``z_d`` Student-t with 5 degrees of freedom scaled to unit variance (fat tails).
- Bars inside a day (any interval up to 1d) are drawn from a per-day random stream with the same
  factor structure and an intraday AR(1) volatility, then bridged so that they sum exactly to the
  day's return: every interval agrees on the daily closes, and a bar never changes once generated.
- Volume rises with the absolute return of the bar; spreads widen as recent volume falls.
- Random streams are keyed by (seed, interval, day), so any window gives the same bars and new bars
  appear only as the clock passes their close.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from scipy.signal import lfilter

from backend.market.errors import UnknownSymbolError
from backend.market.source import INTERVAL_SECONDS, floor_time, interval_seconds
from backend.market.types import BookLevel, BookTop, Kline, OrderBook, SymbolRules, SymbolStatus, Ticker24h

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
DAY = 86_400
_T_DF = 5.0
_T_SCALE = math.sqrt((_T_DF - 2) / _T_DF)  # Student-t(5) scaled to unit variance
_DAILY_BLOCK = 256  # days per random block of the daily backbone
_FACTOR_DAILY_VOL = 0.022
_VOL_PHI, _VOL_SD = 0.97, 0.55  # daily log-volatility: persistence and stationary sd
_INTRADAY_PHI, _INTRADAY_SD = 0.9, 0.5


@dataclass(frozen=True, slots=True)
class SimSymbol:
    """One simulated symbol: its level at EPOCH, liquidity, risk and rules."""

    base: str
    price: float  # at EPOCH
    quote_volume: float  # typical 24h quote volume (USDT)
    beta: float  # loading on the market factor
    idio_vol: float  # daily idiosyncratic volatility
    status: str = SymbolStatus.TRADING
    spread_floor_bps: float = 0.0  # a minimum spread (illiquid symbols)
    listed_days_ago: int | None = None  # a fresh listing: listed this many days before "today"
    kind: str = "regular"  # regular | stablecoin | leveraged | halted | fresh_listing | illiquid

    @property
    def symbol(self) -> str:
        return f"{self.base}USDT"


def _regular(base: str, price: float, quote_volume: float, beta: float, idio: float) -> SimSymbol:
    return SimSymbol(base, price, quote_volume, beta, idio)


REGULAR_SYMBOLS: tuple[SimSymbol, ...] = (
    _regular("BTC", 42_000.0, 1.6e9, 1.00, 0.008),
    _regular("ETH", 2_300.0, 8.0e8, 1.10, 0.012),
    _regular("SOL", 100.0, 4.0e8, 1.45, 0.025),
    _regular("BNB", 310.0, 1.6e8, 0.80, 0.012),
    _regular("XRP", 0.62, 2.0e8, 1.05, 0.020),
    _regular("DOGE", 0.09, 2.5e8, 1.30, 0.030),
    _regular("ADA", 0.59, 1.1e8, 1.15, 0.020),
    _regular("TRX", 0.108, 6.0e7, 0.55, 0.012),
    _regular("AVAX", 38.0, 1.2e8, 1.40, 0.028),
    _regular("LINK", 15.0, 1.0e8, 1.25, 0.024),
    _regular("DOT", 8.2, 6.5e7, 1.20, 0.020),
    _regular("POL", 0.95, 5.5e7, 1.25, 0.024),
    _regular("LTC", 72.0, 7.0e7, 0.95, 0.016),
    _regular("BCH", 250.0, 5.0e7, 1.00, 0.020),
    _regular("SHIB", 0.0000105, 6.0e7, 1.30, 0.030),
    _regular("UNI", 6.4, 4.5e7, 1.20, 0.026),
    _regular("ATOM", 10.5, 4.0e7, 1.15, 0.022),
    _regular("XLM", 0.13, 2.5e7, 0.95, 0.018),
    _regular("ETC", 24.0, 3.0e7, 1.00, 0.022),
    _regular("FIL", 5.6, 3.5e7, 1.25, 0.026),
    _regular("APT", 9.5, 4.0e7, 1.35, 0.030),
    _regular("ARB", 1.85, 6.0e7, 1.35, 0.030),
    _regular("OP", 3.6, 4.5e7, 1.40, 0.030),
    _regular("NEAR", 3.4, 5.0e7, 1.35, 0.030),
    _regular("INJ", 38.0, 5.5e7, 1.50, 0.036),
    _regular("SUI", 0.75, 5.0e7, 1.50, 0.038),
    _regular("TIA", 16.0, 4.5e7, 1.55, 0.040),
    _regular("SEI", 0.68, 3.0e7, 1.55, 0.040),
    _regular("AAVE", 105.0, 3.0e7, 1.20, 0.026),
    _regular("MKR", 1_900.0, 1.5e7, 1.00, 0.026),
    _regular("RENDER", 4.5, 3.5e7, 1.50, 0.036),
    _regular("GRT", 0.17, 2.0e7, 1.30, 0.030),
    _regular("ALGO", 0.19, 1.5e7, 1.10, 0.024),
    _regular("ICP", 12.5, 2.5e7, 1.30, 0.032),
    _regular("HBAR", 0.085, 2.0e7, 1.10, 0.026),
    _regular("VET", 0.031, 1.5e7, 1.10, 0.024),
    _regular("SAND", 0.58, 1.8e7, 1.25, 0.030),
    _regular("MANA", 0.52, 1.2e7, 1.25, 0.030),
    _regular("FET", 0.62, 3.0e7, 1.55, 0.040),
    _regular("PEPE", 0.0000014, 1.5e8, 1.60, 0.045),
)

# Symbols the universe must reject, with the reason a filter should find.
PLANTED_REJECTS: tuple[SimSymbol, ...] = (
    SimSymbol("USDC", 1.0, 9.0e8, 0.0, 0.0004, kind="stablecoin"),
    SimSymbol("FDUSD", 1.0, 1.2e9, 0.0, 0.0004, kind="stablecoin"),
    SimSymbol("BTCUP", 12.0, 8.0e6, 3.0, 0.010, kind="leveraged"),
    SimSymbol("ETHDOWN", 2.1, 6.0e6, -3.0, 0.012, kind="leveraged"),
    SimSymbol("WAVES", 2.4, 9.0e6, 1.2, 0.030, status=SymbolStatus.HALT, kind="halted"),
    SimSymbol("NOVA", 0.45, 4.0e7, 1.6, 0.050, listed_days_ago=2, kind="fresh_listing"),
    SimSymbol("DUSK", 0.28, 2.5e4, 1.2, 0.035, spread_floor_bps=180.0, kind="illiquid"),
)

ALL_SYMBOLS: tuple[SimSymbol, ...] = REGULAR_SYMBOLS + PLANTED_REJECTS
PLANTED_REJECT_KINDS: dict[str, str] = {s.symbol: s.kind for s in PLANTED_REJECTS}

_INTERVAL_CODES = {name: i + 1 for i, name in enumerate(INTERVAL_SECONDS)}


def _tick_size(price: float) -> Decimal:
    exponent = math.floor(math.log10(price)) - 4
    exponent = min(max(exponent, -8), -2)
    return Decimal(1).scaleb(exponent)


def _step_size(price: float) -> Decimal:
    exponent = min(math.floor(-math.log10(price)), 0)
    return Decimal(1).scaleb(max(exponent, -8))


def _decimals(step: Decimal) -> int:
    return max(-int(step.as_tuple().exponent), 0)


def _fmt(value: float, decimals: int) -> Decimal:
    return Decimal(f"{value:.{decimals}f}")


@dataclass(frozen=True, slots=True)
class BarArrays:
    """Bars of many symbols as arrays of shape (symbols, bars); times in epoch seconds."""

    symbols: tuple[str, ...]
    interval: str
    open_time: np.ndarray  # (bars,) int64 seconds
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # base asset
    quote_volume: np.ndarray


class SimulatedMarket:
    """Deterministic for a given seed; bars up to ``clock()`` exist, later ones do not yet.

    Implements `MarketDataSource`. ``name`` is "simulated".
    """

    name = "simulated"

    def __init__(
        self,
        seed: int = 42,
        clock: Callable[[], datetime] | None = None,
        *,
        symbols: tuple[SimSymbol, ...] = ALL_SYMBOLS,
    ) -> None:
        self.seed = seed
        self._clock = clock or (lambda: datetime.now(UTC))
        self._symbols = symbols
        self._index = {s.symbol: i for i, s in enumerate(symbols)}
        n = len(symbols)
        self._beta = np.array([s.beta for s in symbols])
        self._idio = np.array([s.idio_vol for s in symbols])
        self._log_p0 = np.log(np.array([s.price for s in symbols]))
        self._qvol = np.array([s.quote_volume for s in symbols])
        self._ticks = [_tick_size(s.price) for s in symbols]
        self._steps = [_step_size(s.price) for s in symbols]
        self._tick_dp = [_decimals(t) for t in self._ticks]
        self._step_dp = [_decimals(s) for s in self._steps]
        self._n = n
        # the daily backbone, grown block by block: returns (days, n) and cumulative log closes
        self._daily_ret = np.zeros((0, n))
        self._daily_logvol = np.zeros((0, n))
        self._daily_state: tuple[np.ndarray, np.ndarray] | None = None
        self._day_cache: OrderedDict[tuple[str, int], tuple[np.ndarray, ...]] = OrderedDict()
        self._window_cache: dict[tuple[int, int, int], tuple[np.ndarray, ...]] = {}  # see _recent_minutes
        # callers run in worker threads (MarketService, the local Binance server): the backbone
        # and the day cache grow under this lock, so two threads never append the same block
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------ metadata
    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(s.symbol for s in self._symbols)

    def now(self) -> datetime:
        return self._clock()

    def listed_at(self, symbol: str) -> datetime:
        spec = self._spec(symbol)
        if spec.listed_days_ago is not None:
            today = floor_time(self._clock(), "1d")
            return today - timedelta(days=spec.listed_days_ago)
        return EPOCH

    def _row(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            raise UnknownSymbolError(symbol) from None

    def _spec(self, symbol: str) -> SimSymbol:
        try:
            return self._symbols[self._index[symbol]]
        except KeyError:
            raise UnknownSymbolError(symbol) from None

    # ------------------------------------------------------------------------------ daily backbone
    def _ensure_days(self, days: int) -> None:
        """Generate the daily backbone up to (excluding) day index ``days``, block by block."""
        if self._daily_ret.shape[0] >= days:
            return
        with self._lock:
            self._grow_days(days)

    def _grow_days(self, days: int) -> None:
        while self._daily_ret.shape[0] < days:
            block = self._daily_ret.shape[0] // _DAILY_BLOCK
            rng = np.random.default_rng([self.seed, 0xDA11, block])
            m = _DAILY_BLOCK
            eta = rng.standard_normal((self._n + 1, m)) * (_VOL_SD * math.sqrt(1 - _VOL_PHI**2))
            z = rng.standard_t(_T_DF, size=(self._n + 1, m)) * _T_SCALE
            if self._daily_state is None:
                zi = rng.standard_normal((self._n + 1, 1)) * _VOL_SD * _VOL_PHI
            else:
                zi = self._daily_state[0]
            h, zf = lfilter([1.0], [1.0, -_VOL_PHI], eta, axis=1, zi=zi)
            self._daily_state = (zf, np.zeros(1))
            factor = _FACTOR_DAILY_VOL * np.exp(h[0] - _VOL_SD**2 / 2) * z[0]
            idio = self._idio[:, None] * np.exp(h[1:] - _VOL_SD**2 / 2) * z[1:]
            ret = self._beta[:, None] * factor[None, :] + idio
            # volatility first: readers check the length of the returns, so both are ready by then
            self._daily_logvol = np.concatenate([self._daily_logvol, h[1:].T])
            self._daily_ret = np.concatenate([self._daily_ret, ret.T])

    def _log_close_before(self, day: int) -> np.ndarray:
        """Log close of every symbol at the start of ``day`` (n,)."""
        self._ensure_days(day + 1)
        return self._log_p0 + self._daily_ret[:day].sum(axis=0)

    # ------------------------------------------------------------------------------ intraday bars
    def _days(self, interval: str, first: int, last: int) -> tuple[np.ndarray, ...]:
        """Bars of days [first, last] for every symbol: (open_time, o, h, l, c, vol, qvol), shapes (n, bars)."""
        if last - first <= 1:
            parts = [self._one_day(interval, d) for d in range(first, last + 1)]
            return tuple(np.concatenate(items, axis=-1) for items in zip(*parts, strict=True))
        return self._generate(interval, first, last)

    def _one_day(self, interval: str, day: int) -> tuple[np.ndarray, ...]:
        key = (interval, day)
        with self._lock:
            cached = self._day_cache.get(key)
            if cached is not None:
                self._day_cache.move_to_end(key)
                return cached
            arrays = self._generate(interval, day, day)
            self._day_cache[key] = arrays
            if len(self._day_cache) > 16:
                self._day_cache.popitem(last=False)
            return arrays

    def _generate(self, interval: str, first: int, last: int) -> tuple[np.ndarray, ...]:
        step = interval_seconds(interval)
        per_day = DAY // step
        n_days = last - first + 1
        self._ensure_days(last + 1)
        n = self._n
        code = _INTERVAL_CODES[interval]
        # one random stream per (seed, interval, day): any window yields the same bars
        shocks = np.empty((n_days, 4 * n + 2, per_day))
        for i, day in enumerate(range(first, last + 1)):
            rng = np.random.default_rng([self.seed, code, day])
            shocks[i, : 2 * n + 1] = rng.standard_t(_T_DF, size=(2 * n + 1, per_day)) * _T_SCALE
            shocks[i, 2 * n + 1 :] = rng.standard_normal((2 * n + 1, per_day))
        z_factor = shocks[:, 0]  # (D, k)
        z_idio = shocks[:, 1 : n + 1]  # (D, n, k)
        wick = np.abs(shocks[:, n + 1 : 2 * n + 1])  # (D, n, k)
        eta = shocks[:, 2 * n + 1 : 3 * n + 1] * (_INTRADAY_SD * math.sqrt(1 - _INTRADAY_PHI**2))
        vol_noise = shocks[:, 3 * n + 1 : 4 * n + 1]
        wick2 = np.abs(shocks[:, 4 * n + 1])[:, None, :]
        g, _ = lfilter([1.0], [1.0, -_INTRADAY_PHI], eta, axis=2, zi=np.zeros((n_days, n, 1)))  # intraday log-vol
        daily_ret = self._daily_ret[first : last + 1]  # (D, n)
        day_scale = np.exp(self._daily_logvol[first : last + 1] - _VOL_SD**2 / 2)  # (D, n)
        bar_sigma = (
            np.sqrt(self._beta[None, :] ** 2 * _FACTOR_DAILY_VOL**2 + (self._idio[None, :] * day_scale) ** 2)[..., None]
            * np.exp(g - _INTRADAY_SD**2 / 2)
            / math.sqrt(per_day)
        )  # (D, n, k)
        raw = (
            self._beta[None, :, None] * _FACTOR_DAILY_VOL / math.sqrt(per_day) * z_factor[:, None, :]
            + self._idio[None, :, None]
            * day_scale[..., None]
            * np.exp(g - _INTRADAY_SD**2 / 2)
            / math.sqrt(per_day)
            * z_idio
        )
        # bridge: spread the gap to the day's return in proportion to each bar's variance
        weights = bar_sigma**2 / (bar_sigma**2).sum(axis=2, keepdims=True)
        ret = raw + (daily_ret - raw.sum(axis=2))[..., None] * weights
        start_log = self._log_close_before(first)  # (n,)
        day_starts = start_log[None, :] + np.concatenate([np.zeros((1, n)), np.cumsum(daily_ret, axis=0)[:-1]])
        log_close = day_starts[..., None] + np.cumsum(ret, axis=2)
        log_open = log_close - ret
        close = np.exp(log_close)
        open_ = np.exp(log_open)
        high = np.maximum(open_, close) * np.exp(0.5 * bar_sigma * wick)
        low = np.minimum(open_, close) * np.exp(-0.5 * bar_sigma * wick2)
        typical = (high + low + close) / 3
        quote_volume = (
            (self._qvol / per_day)[None, :, None]
            * (0.55 + 0.45 * np.abs(ret) / bar_sigma)
            * np.exp(0.25 * vol_noise - 0.25**2 / 2)
        )
        volume = quote_volume / typical
        times = (
            int(EPOCH.timestamp()) + (np.arange(first, last + 1)[:, None] * DAY + np.arange(per_day)[None, :] * step)
        ).reshape(-1)

        def flat(a: np.ndarray) -> np.ndarray:
            return np.transpose(a, (1, 0, 2)).reshape(n, -1)

        return (times, flat(open_), flat(high), flat(low), flat(close), flat(volume), flat(quote_volume))

    # ------------------------------------------------------------------------------ public arrays
    def history_arrays(
        self, interval: str, start: datetime, end: datetime, symbols: list[str] | None = None
    ) -> BarArrays:
        """Every closed bar with ``start <= open_time <= end`` as arrays (vectorised; for training and warm-up).

        Bars before a symbol's listing are NaN."""
        step = interval_seconds(interval)
        now = self._clock()
        last_open = floor_time(now, interval) - timedelta(seconds=step)
        end = min(end, last_open)
        start = max(start, EPOCH)
        names = tuple(symbols) if symbols is not None else self.symbols
        rows = [self._row(s) for s in names]
        if end < start:
            empty = np.zeros((len(names), 0))
            return BarArrays(names, interval, np.zeros(0, dtype=np.int64), *(empty,) * 6)
        first = int((start - EPOCH).total_seconds()) // DAY
        last = int((end - EPOCH).total_seconds()) // DAY
        times, o, h, lo, c, v, qv = self._days(interval, first, last)
        mask = (times >= start.timestamp()) & (times <= end.timestamp())
        idx = np.asarray(rows, dtype=np.intp)
        arrays = [a[idx][:, mask] for a in (o, h, lo, c, v, qv)]
        times = times[mask]
        for i, name in enumerate(names):
            listed = self.listed_at(name).timestamp()
            if listed > EPOCH.timestamp():
                before = times < listed
                for a in arrays:
                    a[i, before] = np.nan
        return BarArrays(names, interval, times.astype(np.int64), *arrays)

    # ------------------------------------------------------------------------------ MarketDataSource
    def symbol_rules(self) -> dict[str, SymbolRules]:
        out: dict[str, SymbolRules] = {}
        for i, spec in enumerate(self._symbols):
            tick, step = self._ticks[i], self._steps[i]
            out[spec.symbol] = SymbolRules(
                symbol=spec.symbol,
                status=str(spec.status),
                base_asset=spec.base,
                quote_asset="USDT",
                tick_size=tick,
                min_price=tick,
                max_price=Decimal(1_000_000),
                step_size=step,
                min_qty=step,
                max_qty=Decimal(9_000_000),
                market_step_size=step,
                market_min_qty=Decimal(0),
                market_max_qty=Decimal(
                    max(1, int(spec.quote_volume / 5000 / spec.price)) if spec.quote_volume else 1000
                ),
                min_notional=Decimal(5),
                max_notional=Decimal(9_000_000),
                min_notional_applies_to_market=True,
                max_notional_applies_to_market=False,
                spot_allowed=True,
                listed_at=self.listed_at(spec.symbol),
                # PERCENT_PRICE_BY_SIDE as Binance sets it on most spot pairs
                bid_multiplier_up=Decimal(5),
                bid_multiplier_down=Decimal("0.2"),
                ask_multiplier_up=Decimal(5),
                ask_multiplier_down=Decimal("0.2"),
            )
        return out

    def _recent_minutes(self) -> tuple[np.ndarray, ...]:
        """Closed 1m bars of the last 24 hours (at most 1440), every symbol (read-only views).

        The same bars as ``history_arrays("1m", ...)`` over that window; the two days the window can
        span are joined once per day pair and the window is a slice of them, so the tickers and the
        book tops of each minute cost a few vectorised reductions (a backtest asks every bar)."""
        now = self._clock()
        last_open = int(floor_time(now, "1m").timestamp()) - 60
        first_open = max(last_open - 1439 * 60, int(EPOCH.timestamp()))
        if last_open < first_open:
            empty = np.zeros((self._n, 0))
            return (np.zeros(0, dtype=np.int64), *(empty,) * 6)
        epoch = int(EPOCH.timestamp())
        first, last = (first_open - epoch) // DAY, (last_open - epoch) // DAY
        today = int(floor_time(now, "1d").timestamp())
        key = (first, last, today)  # a fresh listing's NaN bars move with the clock's day
        with self._lock:
            joined = self._window_cache.get(key)
            if joined is None:
                joined = self._joined_minutes(first, last)
                self._window_cache = {key: joined}
        lo = (first_open - int(joined[0][0])) // 60
        hi = (last_open - int(joined[0][0])) // 60 + 1
        return tuple(a[..., lo:hi] for a in joined)

    def _joined_minutes(self, first: int, last: int) -> tuple[np.ndarray, ...]:
        times, *arrays = self._days("1m", first, last)
        arrays = [a.copy() for a in arrays]
        for i, spec in enumerate(self._symbols):
            listed = self.listed_at(spec.symbol).timestamp()
            if listed > EPOCH.timestamp():
                before = times < listed
                for a in arrays:
                    a[i, before] = np.nan
        for a in arrays:
            a.flags.writeable = False
        return (times.astype(np.int64), *arrays)

    def tickers_24h(self) -> dict[str, Ticker24h]:
        times, o, h, lo, c, v, qv = self._recent_minutes()
        if times.size == 0:
            return {}
        close_time = datetime.fromtimestamp(int(times[-1]) + 60, UTC) - timedelta(milliseconds=1)
        valid = ~np.isnan(c)
        present = valid.any(axis=1)
        first = np.argmax(valid, axis=1)
        opened_all = o[np.arange(self._n), first]
        volumes = np.nansum(v, axis=1)
        quotes = np.nansum(qv, axis=1)
        with np.errstate(all="ignore"):
            highs = np.nanmax(np.where(present[:, None], h, 0.0), axis=1)
            lows = np.nanmin(np.where(present[:, None], lo, 0.0), axis=1)
        out: dict[str, Ticker24h] = {}
        for i, spec in enumerate(self._symbols):
            if not present[i]:
                continue
            dp = self._tick_dp[i]
            opened, last = float(opened_all[i]), float(c[i, -1])
            halted = spec.status == SymbolStatus.HALT
            volume = 0.0 if halted else float(volumes[i])
            quote = 0.0 if halted else float(quotes[i])
            out[spec.symbol] = Ticker24h(
                symbol=spec.symbol,
                last_price=_fmt(last, dp),
                open_price=_fmt(opened, dp),
                high_price=_fmt(float(highs[i]), dp),
                low_price=_fmt(float(lows[i]), dp),
                volume=_fmt(volume, self._step_dp[i]),
                quote_volume=_fmt(quote, 2),
                price_change_pct=_fmt((last / opened - 1) * 100, 3),
                trade_count=0 if halted else int(quote / 400) + 1,
                close_time=close_time,
            )
        return out

    def _top(
        self, i: int, times: np.ndarray, c: np.ndarray, qv: np.ndarray, recent: float | None = None
    ) -> BookTop | None:
        spec = self._symbols[i]
        mid = float(c[i, -1])
        if math.isnan(mid) and not (~np.isnan(c[i])).any():
            return None
        expected_hour = spec.quote_volume / 24
        if recent is None:
            recent = float(np.nansum(qv[i, -60:]))
        recent = recent or 1e-9
        # spreads widen as recent volume falls (square-root law), never below one tick
        base_bps = max(0.25 * math.sqrt(1e9 / max(spec.quote_volume, 1.0)), spec.spread_floor_bps, 0.1)
        spread_bps = base_bps * math.sqrt(max(expected_hour / recent, 0.25))
        tick = float(self._ticks[i])
        half = max(mid * spread_bps / 20_000, tick / 2)
        dp = self._tick_dp[i]
        bid = math.floor((mid - half) / tick) * tick
        ask = math.ceil((mid + half) / tick) * tick
        if ask <= bid:
            ask = bid + tick
        top_notional = max(spec.quote_volume / 5000, 5.0)
        step_dp = self._step_dp[i]
        return BookTop(
            symbol=spec.symbol,
            bid_price=_fmt(bid, dp),
            bid_qty=_fmt(top_notional / mid, step_dp),
            ask_price=_fmt(ask, dp),
            ask_qty=_fmt(top_notional * 0.9 / mid, step_dp),
            time=datetime.fromtimestamp(int(times[-1]) + 60, UTC),
        )

    def book_tops(self) -> dict[str, BookTop]:
        times, _o, _h, _l, c, _v, qv = self._recent_minutes()
        if times.size == 0:
            return {}
        recent = np.nansum(qv[:, -60:], axis=1)
        out: dict[str, BookTop] = {}
        for i, spec in enumerate(self._symbols):
            top = self._top(i, times, c, qv, float(recent[i]))
            if top is not None:
                out[spec.symbol] = top
        return out

    def klines(
        self,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        i = self._index.get(symbol)
        if i is None:
            raise UnknownSymbolError(symbol)
        step = interval_seconds(interval)
        limit = max(1, min(limit, 1000))
        delta = timedelta(seconds=step)
        if start is None:
            end_at = end or self._clock()
            start_at = floor_time(end_at, interval) - delta * limit
        else:
            start_at = max(start, self.listed_at(symbol))  # nothing to page through before the listing
            end_at = min(end or self._clock(), start_at + delta * limit)
        bars = self.history_arrays(interval, start_at, end_at, [symbol])
        dp, sdp = self._tick_dp[i], self._step_dp[i]
        out: list[Kline] = []
        for j, t in enumerate(bars.open_time.tolist()):
            c = bars.close[0, j]
            if math.isnan(c):
                continue
            opened = datetime.fromtimestamp(t, UTC)
            out.append(
                Kline(
                    symbol=symbol,
                    interval=interval,
                    open_time=opened,
                    close_time=opened + delta - timedelta(milliseconds=1),
                    open=_fmt(bars.open[0, j], dp),
                    high=_fmt(bars.high[0, j], dp),
                    low=_fmt(bars.low[0, j], dp),
                    close=_fmt(c, dp),
                    volume=_fmt(bars.volume[0, j], sdp),
                    quote_volume=_fmt(bars.quote_volume[0, j], 4),
                    trade_count=int(bars.quote_volume[0, j] / 400) + 1,
                )
            )
        if start is None:
            out = out[-limit:]
        return out[:limit]

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        i = self._index.get(symbol)
        if i is None:
            raise UnknownSymbolError(symbol)
        times, _o, _h, _l, c, _v, qv = self._recent_minutes()
        top = self._top(i, times, c, qv) if times.size else None
        now = self._clock()
        if top is None:
            return OrderBook(symbol=symbol, bids=(), asks=(), time=now)
        limit = max(1, min(limit, 1000))
        minute = int(now.timestamp()) // 60
        rng = np.random.default_rng([self.seed, 0xB00C, i, minute])
        tick = self._ticks[i]
        mid = float(top.mid)
        gap = max(tick, _fmt(mid * 0.0002, self._tick_dp[i]))  # ~2 bps between levels
        growth = 1 + 0.35 * np.arange(limit)
        noise = np.exp(rng.normal(0, 0.3, size=(2, limit)))
        sdp = self._step_dp[i]
        bids = tuple(
            BookLevel(top.bid_price - gap * k, _fmt(float(top.bid_qty) * growth[k] * noise[0, k], sdp))
            for k in range(limit)
            if top.bid_price - gap * k > 0
        )
        asks = tuple(
            BookLevel(top.ask_price + gap * k, _fmt(float(top.ask_qty) * growth[k] * noise[1, k], sdp))
            for k in range(limit)
        )
        return OrderBook(symbol=symbol, bids=bids, asks=asks, time=top.time)

    def server_time(self) -> datetime:
        return self._clock()

    def close(self) -> None:
        with self._lock:
            self._day_cache.clear()
            self._window_cache = {}
