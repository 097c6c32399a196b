"""The simulated market's universe: ~40 USDT symbols with their level at EPOCH, liquidity, factor
loading and volatility, the symbols a universe must reject (stablecoins, leveraged tokens, a halted
and a fresh listing, an illiquid one), and the exchange rules their prices imply."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from backend.market.types import SymbolStatus

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
DAY = 86_400


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
