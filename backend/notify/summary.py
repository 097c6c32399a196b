"""The daily summary: at QT_NOTIFY_SUMMARY_HOUR (UTC), the last 24 hours in one message.

Equity (latest cycle), realised PnL net of fees, drawdown from the window's equity peak, orders by
outcome and fees, read from the ledger's tables. Its dedup key is the UTC date, so replicas and
restarts send it once a day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.notify.events import Event
from backend.notify.notifier import Notifier
from config.notify import NotifySettings
from database.models.execution import ExecutionRun, FillRecord, Order

WINDOW = timedelta(hours=24)
ZERO = Decimal(0)


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def build_summary(sessions: sessionmaker[Session], now: datetime, quote: str = "USDT") -> Event:
    since = now - WINDOW
    with sessions() as session:
        equities = [
            e
            for (e,) in session.execute(
                select(ExecutionRun.equity)
                .where(
                    ExecutionRun.started_at >= since, ExecutionRun.started_at < now, ExecutionRun.equity.is_not(None)
                )
                .order_by(ExecutionRun.started_at)
            )
        ]
        fills = session.execute(
            select(FillRecord.realised_pnl, FillRecord.fee_quote).where(FillRecord.time >= since, FillRecord.time < now)
        ).all()
        statuses = Counter(
            status
            for (status,) in session.execute(
                select(Order.status).where(Order.created_at >= since, Order.created_at < now)
            )
        )
    pnl = sum((row[0] for row in fills), ZERO)
    fees = sum((row[1] for row in fills), ZERO)
    equity = equities[-1] if equities else None
    peak = max(equities) if equities else None
    drawdown = (peak - equity) / peak * 100 if peak and equity is not None and peak > 0 else ZERO
    orders = sum(statuses.values())
    by_status = ", ".join(f"{n} {s.lower()}" for s, n in sorted(statuses.items())) or "none"
    text = (
        f"Daily summary {since:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC: "
        f"equity {_money(equity) + ' ' + quote if equity is not None else 'unknown (no cycle)'}; "
        f"PnL {_money(pnl)} {quote} (realised, net of fees); drawdown {drawdown.quantize(Decimal('0.01'))}%; "
        f"orders {orders} ({by_status}); fees {_money(fees)} {quote}."
    )
    data = {
        "equity": None if equity is None else str(equity),
        "pnl": str(pnl),
        "drawdown_pct": str(drawdown.quantize(Decimal("0.01"))),
        "orders": orders,
        "orders_by_status": dict(statuses),
        "fees": str(fees),
    }
    return Event(
        kind="summary.daily", text=text, dedup_key=f"summary.daily:{now.date().isoformat()}", time=now, data=data
    )


class DailySummary:
    """Checked every sender pass on the leader: once the hour has come, today's summary is emitted."""

    def __init__(
        self,
        notifier: Notifier,
        sessions: sessionmaker[Session],
        settings: Callable[[], NotifySettings],
        clock: Callable[[], datetime],
        quote: Callable[[], str],
    ) -> None:
        self._notifier = notifier
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._quote = quote
        self._done: str | None = None

    def check(self) -> bool:
        hour = self._settings().summary_hour
        now = self._clock()
        if hour is None or now.hour < hour or self._done == now.date().isoformat():
            return False
        at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
        if self._notifier.outbox.exists(f"summary.daily:{at.date().isoformat()}"):
            self._done = at.date().isoformat()
            return False
        self._notifier.emit_sync(build_summary(self._sessions, at, self._quote()))
        self._done = at.date().isoformat()
        return True
