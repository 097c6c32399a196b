"""Market data errors, by what the caller should do next.

- MarketDataError: base class; the data asked for is not available now.
- TemporaryMarketDataError: transient (5xx, timeout, network); retry on the next refresh.
- MarketRateLimitedError: the source asked us to back off for ``retry_after`` seconds (HTTP 429/418).
- WeightBudgetExceededError: this refresh would exceed the configured request-weight budget.
- CircuitOpenError: the breaker is open; the source is not called until its cooldown ends.
- UnknownSymbolError: the source does not know the symbol (a per-symbol error, never fatal).
- ReplayFileError: a replay file is unusable; names the file, the line and the reason.
"""

from __future__ import annotations

from pathlib import Path


class MarketDataError(Exception):
    pass


class TemporaryMarketDataError(MarketDataError):
    pass


class MarketRateLimitedError(TemporaryMarketDataError):
    def __init__(self, message: str, *, retry_after: float, http_status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.http_status = http_status


class WeightBudgetExceededError(TemporaryMarketDataError):
    pass


class CircuitOpenError(TemporaryMarketDataError):
    pass


class UnknownSymbolError(MarketDataError):
    def __init__(self, symbol: str) -> None:
        super().__init__(f"unknown symbol {symbol}")
        self.symbol = symbol


class ReplayFileError(MarketDataError):
    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason
