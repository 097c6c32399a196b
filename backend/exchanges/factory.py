"""Build the configured exchange adapter (QT_EXECUTION_EXCHANGE): paper by default, or Binance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import Exchange
from backend.exchanges.paper import BookFn, PaperConfig, PaperExchange, RulesFn
from backend.observability.metrics import Metrics
from config.execution import ExchangeKind
from config.settings import Settings


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


def build_exchange(
    settings: Callable[[], Settings],
    *,
    sessions: sessionmaker[Session],
    book: BookFn,
    rules: RulesFn,
    metrics: Metrics,
    clock: Callable[[], datetime],
) -> Exchange:
    current = settings()
    if current.execution.exchange is ExchangeKind.BINANCE:
        from backend.exchanges.binance import BinanceExchange  # python-binance only when used

        # the execution service counts exchange_requests_total for every adapter
        return BinanceExchange.from_settings(current, clock=clock)
    return PaperExchange(sessions, book=book, rules=rules, config=lambda: paper_config(settings()), clock=clock)
