"""Build the configured exchange adapter (QT_EXECUTION_EXCHANGE): paper by default, or Binance."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import Exchange
from backend.exchanges.paper import BarsFn, BookFn, PaperConfig, PaperExchange, RulesFn
from backend.market.errors import MarketDataError
from backend.market.types import Kline
from backend.observability.metrics import Metrics
from config.execution import ExchangeKind
from config.settings import Settings

log = logging.getLogger(__name__)
# a symbol's recent bars at the configured interval, as the market service keeps them (cached)
KlinesFn = Callable[[str], Awaitable[Sequence[Kline]]]


def paper_config(settings: Settings) -> PaperConfig:
    ex = settings.execution
    return PaperConfig(
        quote_asset=ex.quote_asset,
        starting_cash=ex.paper_starting_cash,
        fee_bps=ex.paper_fee_bps,
        max_slippage_bps=ex.paper_max_slippage_bps,
        maker_fee_bps=ex.paper_maker_fee_bps,
        fill_volume_share=ex.paper_fill_volume_share,
        order_ttl_seconds=ex.paper_order_ttl_seconds,
    )


def closed_bars(klines: KlinesFn) -> BarsFn:
    """The paper exchange's bars (resting orders fill when a later bar trades through them): the
    symbol's bars from the market service's cache that closed after `since` and by `until`. A bar
    still forming (its close in the future) is never one of them. When the market cannot give
    them now, none: the book alone decides until the next look."""

    async def bars(symbol: str, since: datetime, until: datetime) -> Sequence[Kline]:
        try:
            rows = await klines(symbol)
        except MarketDataError as exc:
            log.warning("bars unavailable for resting orders", extra={"symbol": symbol, "error": str(exc)})
            return ()
        return [k for k in rows if since < k.close_time <= until]

    return bars


def build_exchange(
    settings: Callable[[], Settings],
    *,
    sessions: sessionmaker[Session],
    book: BookFn,
    rules: RulesFn,
    metrics: Metrics,
    clock: Callable[[], datetime],
    bars: BarsFn | None = None,
) -> Exchange:
    current = settings()
    if current.execution.exchange is ExchangeKind.BINANCE:
        from backend.exchanges.binance import BinanceExchange  # python-binance only when used

        # the execution service counts exchange_requests_total for every adapter
        return BinanceExchange.from_settings(current, clock=clock)
    return PaperExchange(
        sessions, book=book, rules=rules, config=lambda: paper_config(settings()), clock=clock, bars=bars
    )
