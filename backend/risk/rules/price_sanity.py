"""Price sanity: finite, positive, inside the bounds, close to a fresh reference price."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backend.risk.models import RuleName
from backend.risk.rules.base import OrderView, Rule, is_positive_finite
from config.risk import PriceBounds, RiskSettings


@dataclass(frozen=True, slots=True)
class PriceSanityConfig:
    global_bounds: PriceBounds
    symbol_bounds: dict[str, PriceBounds]
    max_deviation_pct: Decimal
    max_staleness_seconds: float

    def bounds(self, symbol: str) -> PriceBounds:
        return self.symbol_bounds.get(symbol, self.global_bounds)


class PriceSanityRule(Rule[PriceSanityConfig]):
    name = RuleName.PRICE_SANITY
    description = (
        "Order and reference prices must be finite and positive, the order price inside its bounds and "
        "within QT_MAX_PRICE_DEVIATION_PCT of a reference no older than QT_MAX_PRICE_STALENESS_SECONDS."
    )

    @classmethod
    def config_from(cls, settings: RiskSettings) -> PriceSanityConfig:
        return PriceSanityConfig(
            global_bounds=PriceBounds(min_price=settings.min_price, max_price=settings.max_price),
            symbol_bounds=dict(settings.symbol_price_bounds),
            max_deviation_pct=settings.max_price_deviation_pct,
            max_staleness_seconds=settings.max_price_staleness_seconds,
        )

    def evaluate(self, view: OrderView) -> str | None:
        config = self.config
        price = view.price
        if price is None:
            if view.raw_price is None:
                return "no price: neither the order nor the context gives one"
            return f"price {view.raw_price!r} is not a number"
        if not price.is_finite():
            return f"price {price} is not finite"
        if price <= 0:
            return f"price {price} is not positive"
        bounds = config.bounds(view.symbol)
        if not bounds.min_price <= price <= bounds.max_price:
            return f"price {price} outside the bounds [{bounds.min_price}, {bounds.max_price}] for {view.symbol}"
        reference = view.reference_price
        if reference is None:
            return "no reference price"
        if not is_positive_finite(reference):
            return f"reference price {reference} is not a finite positive number"
        observed = view.context.reference_time
        if observed is None:
            return "reference price has no time"
        if observed.tzinfo is None:
            return "reference time is naive (needs a UTC-aware datetime)"
        age = (view.now - observed).total_seconds()
        if abs(age) > config.max_staleness_seconds:
            what = "stale" if age > 0 else "from the future"
            return f"reference price is {what}: {abs(age):.1f}s old, limit {config.max_staleness_seconds:g}s"
        priced = view.context.price_time
        if priced is not None:
            price_age = (view.now - priced).total_seconds()
            if price_age > config.max_staleness_seconds:
                return f"order price is stale: {price_age:.1f}s old, limit {config.max_staleness_seconds:g}s"
        deviation = abs(price - reference) / reference * 100
        if deviation > config.max_deviation_pct:
            return (
                f"price {price} deviates {deviation:.2f}% from the reference {reference} "
                f"(limit {config.max_deviation_pct}%)"
            )
        return None
