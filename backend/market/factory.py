"""Build the configured market source and sentiment provider (no network call happens here)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from backend.market.errors import ReplayFileError
from backend.market.sentiment import FearGreedProvider, SentimentService, SimulatedSentiment
from backend.market.source import MarketDataSource
from backend.observability.metrics import Metrics
from config.market import MarketSettings, MarketSource, SentimentSource


def build_source(settings: MarketSettings, clock: Callable[[], datetime]) -> MarketDataSource:
    """The source QT_MARKET_DATA_SOURCE names; replay files are read and checked here."""
    if settings.source is MarketSource.BINANCE:
        from backend.market.sources.binance import BinanceMarketSource

        return BinanceMarketSource(
            base_url=settings.binance_api_url,
            timeout=settings.binance_timeout_seconds,
            weight_budget=settings.binance_weight_budget,
            clock=clock,
        )
    if settings.source is MarketSource.REPLAY:
        from backend.market.sources.replay import ReplayMarketSource

        if settings.replay_dir is None:  # the settings validator already refuses this
            raise ValueError("QT_REPLAY_DIR is required when QT_MARKET_DATA_SOURCE=replay")
        replay = ReplayMarketSource(settings.replay_dir, spread_bps=settings.replay_spread_bps)
        if replay.interval != settings.kline_interval:
            raise ReplayFileError(
                settings.replay_dir,
                None,
                f"the files hold {replay.interval} bars but QT_MARKET_KLINE_INTERVAL={settings.kline_interval}",
            )
        return replay
    from backend.market.sources.simulated import SimulatedMarket

    return SimulatedMarket(settings.sim_seed, clock)


def build_sentiment(
    settings: MarketSettings, clock: Callable[[], datetime], metrics: Metrics | None = None
) -> SentimentService | None:
    if settings.sentiment_source is SentimentSource.NONE:
        return None
    if settings.sentiment_source is SentimentSource.FEAR_GREED:
        return SentimentService(
            FearGreedProvider(settings.sentiment_url, timeout=settings.binance_timeout_seconds), clock, metrics
        )
    return SentimentService(SimulatedSentiment(settings.sim_seed, clock), clock, metrics)
