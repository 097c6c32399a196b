"""Exchange errors, by what the caller should do next.

- ExchangeConfigError: refuse to start / halt (bad keys, permissions).
- TemporaryExchangeError: retry later with backoff (5xx, network).
- RateLimitedError: back off for `retry_after` seconds (HTTP 429/418).
- OrderRejectedError: record and skip (filter failure -1013, insufficient balance -2010).
- UnknownOutcomeError: the request may have been applied; reconcile by client order id first.
"""

from __future__ import annotations


class ExchangeError(Exception):
    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class ExchangeConfigError(ExchangeError):
    """Configuration or permission problem; trading must stop until an operator fixes it."""


class TemporaryExchangeError(ExchangeError):
    """Transient; safe to retry after a pause."""


class RateLimitedError(TemporaryExchangeError):
    def __init__(
        self, message: str, *, retry_after: float, code: int | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.retry_after = retry_after


class OrderRejectedError(ExchangeError):
    """The exchange refused this order; nothing was placed."""


class UnknownOutcomeError(ExchangeError):
    """Timeout or 5xx after sending: the order may exist. Look it up before resubmitting."""
