"""What the account-wide protections remember between checks: loss-making exits per symbol and the
latest equity drawdown reading (the rules are in backend/risk/rules/{drawdown,cooldown,turnover}.py).

The guard owns one `Protections` and feeds it every recorded execution (at load and at each
``record_fill``); the drawdown reading comes from the portfolio marks (``read_drawdown``), given to
the guard with ``RiskGuard.note_drawdown`` after each mark is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from backend.exchanges.base import OrderSide
from backend.risk.models import ZERO, TradeRecord

HUNDRED = Decimal(100)
PCT_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class DrawdownReading:
    """Equity at the latest mark against the highest equity of the marks since ``window_start``."""

    window_start: datetime
    high_water: Decimal
    high_water_at: datetime
    equity: Decimal
    as_of: datetime

    @property
    def drawdown_pct(self) -> Decimal:
        """Percent below the high-water mark: 0 at a new high, 12.5 when equity is 87.5 % of it."""
        if self.high_water <= 0 or self.equity >= self.high_water:
            return ZERO
        return ((self.high_water - self.equity) / self.high_water * HUNDRED).quantize(PCT_PLACES)

    def breaches(self, limit_pct: Decimal | None) -> bool:
        return limit_pct is not None and self.drawdown_pct >= limit_pct

    def describe(self) -> str:
        return (
            f"equity {self.equity:.2f} is {self.drawdown_pct}% below its high-water mark {self.high_water:.2f} "
            f"of {self.high_water_at.isoformat()} (marks since {self.window_start.date().isoformat()})"
        )


class Protections:
    """Loss-making exits per symbol and the drawdown episode. Mutated under the guard's lock."""

    def __init__(self) -> None:
        self.loss_exits: dict[str, datetime] = {}
        self.drawdown: DrawdownReading | None = None
        # one automatic halt per episode: re-armed once the drawdown is back under the limit, so an
        # operator who turns the kill switch off again is not overruled by the next mark
        self._armed = True

    def observe(self, record: TradeRecord) -> None:
        if record.side is OrderSide.SELL and record.realised_pnl < 0:
            previous = self.loss_exits.get(record.symbol)
            if previous is None or record.time > previous:
                self.loss_exits[record.symbol] = record.time

    def clear_trades(self) -> None:
        self.loss_exits.clear()

    def cooling(self, now: datetime, minutes: float) -> dict[str, datetime]:
        """Symbols still in cooldown at ``now`` and when their cooldown ends."""
        if minutes <= 0:
            return {}
        span = timedelta(minutes=minutes)
        return {s: t + span for s, t in sorted(self.loss_exits.items()) if t + span > now}

    def note_drawdown(self, reading: DrawdownReading, limit_pct: Decimal | None) -> bool:
        """Keep the reading; True when it starts a breach episode (the caller halts)."""
        self.drawdown = reading
        if not reading.breaches(limit_pct):
            self._armed = True
            return False
        if not self._armed:
            return False
        self._armed = False
        return True


__all__ = ["DrawdownReading", "Protections"]
