"""Risk guard benchmarks: ``check`` alone, and ``check`` + ``record_fill`` on a SQLite state store.

Run with ``python -m scripts.bench risk``. Medians over many calls on a real store file
(synchronous=FULL, as in service); 20 open positions, every limit on.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from backend.exchanges.base import OrderRequest, OrderSide
from backend.observability.metrics import Metrics
from backend.risk.guard import RiskGuard
from backend.risk.models import RiskContext, TradeRecord
from backend.risk.store import RiskStateStore
from config.risk import RiskSettings

CHECKS = 20_000
RECORDS = 400


def _settings(state_db: Path) -> RiskSettings:
    return RiskSettings(
        _env_file=None,
        QT_RISK_STATE_DB=str(state_db),
        QT_MAX_NOTIONAL_PER_TRADE="1000",
        QT_MAX_DAILY_LOSS="1000000",
        QT_MAX_POSITION_PER_SYMBOL="100000",
        QT_MAX_GROSS_EXPOSURE="10000000",
    )


def _context(now: datetime) -> RiskContext:
    positions = {f"SYM{i}USDT": Decimal(500 + i) for i in range(20)}
    return RiskContext(
        now=now, reference_price=Decimal("100.00"), reference_time=now - timedelta(seconds=2), positions=positions
    )


def _order(i: int) -> OrderRequest:
    side = OrderSide.BUY if i % 3 else OrderSide.SELL
    return OrderRequest(
        symbol=f"SYM{i % 20}USDT",
        side=side,
        quantity=Decimal("1.5"),
        client_order_id=f"bench-{i}",
        reference_price=Decimal("100.10"),
    )


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="qt-risk-bench-") as tmp:
        settings = _settings(Path(tmp) / "risk_state.db")
        store = RiskStateStore(settings.state_db_url)
        store.create()
        now = datetime.now(UTC)
        guard = RiskGuard(store, lambda: settings, metrics=Metrics(), clock=lambda: now)
        guard.load()
        context = _context(now)
        orders = [_order(i) for i in range(CHECKS)]

        check_samples: list[float] = []
        for order in orders:
            t0 = time.perf_counter()
            decision = guard.check(order, context)
            check_samples.append(time.perf_counter() - t0)
            if not decision.allowed:
                raise RuntimeError(f"benchmark order refused: {decision}")
            guard.release(order.client_order_id)

        record_samples: list[float] = []
        for i in range(RECORDS):
            order = _order(CHECKS + i)
            t0 = time.perf_counter()
            guard.check(order, context)
            guard.record_fill_sync(
                TradeRecord(
                    order.client_order_id,
                    order.symbol,
                    order.side,
                    order.quantity,
                    Decimal("150.15"),
                    Decimal("-0.01"),
                    now,
                )
            )
            record_samples.append(time.perf_counter() - t0)

        async def async_round_trips() -> list[float]:
            samples = []
            for i in range(RECORDS):
                order = _order(CHECKS + RECORDS + i)
                t0 = time.perf_counter()
                guard.check(order, context)
                await guard.record_fill(
                    TradeRecord(
                        order.client_order_id,
                        order.symbol,
                        order.side,
                        order.quantity,
                        Decimal("150.15"),
                        Decimal("-0.01"),
                        now,
                    )
                )
                samples.append(time.perf_counter() - t0)
            return samples

        async_samples = asyncio.run(async_round_trips())
        store.close()

    check_ms = _median_ms(check_samples)
    record_ms = _median_ms(record_samples)
    async_ms = _median_ms(async_samples)
    return [
        {
            "name": "risk check (median, 20 positions, all rules)",
            "value": round(check_ms, 4),
            "unit": "ms",
            "target": "<= 0.1 ms",
            "ok": check_ms <= 0.1,
        },
        {
            "name": "risk check p99",
            "value": round(statistics.quantiles(check_samples, n=100)[98] * 1000, 4),
            "unit": "ms",
        },
        {
            "name": "risk check + record_fill, SQLite synchronous=FULL (median)",
            "value": round(record_ms, 3),
            "unit": "ms",
            "target": "<= 2 ms",
            "ok": record_ms <= 2.0,
        },
        {
            "name": "risk check + await record_fill (thread hop), SQLite (median)",
            "value": round(async_ms, 3),
            "unit": "ms",
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
