"""An order's executions split by UTC day, so the risk guard counts every fill on its own day.

The guard keeps one ``TradeRecord`` per order and UTC day: the realised PnL toward
QT_MAX_DAILY_LOSS and the daily turnover of a resting order filled at 23:59 and again at 00:00:30
belong half to each day, as in the ledger's ``realised_pnl_between``. Two producers, one shape:

- ``Ledger.executions_since`` (the restore at start-up) knows every fill's realised PnL and sums
  them per day exactly (``day_totals``, ``settle``, ``records_of``);
- ``split_execution`` (the live recording) is told an order's cumulative figures each time the
  order is recorded (executed and quote quantity, the realised PnL of all its fills so far) and
  works out what changed since the order's records: quantity and turnover per day come from the
  answer's fills when they list everything executed, else what was executed since is dated at the
  latest fill (or the answer's time); the realised PnL gained since goes to the days that gained
  quantity. When one recording's new fills fall on several days the guard has only their total,
  so it splits it by quantity (exact for a resting limit order's fills, all at one price); the
  restore at start-up then puts the ledger's per-fill figures in its place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from backend.amounts import exact_sum
from backend.exchanges.base import Fill, OrderSide
from backend.risk.models import ZERO, TradeRecord


@dataclass(slots=True)
class DayTotal:
    """What an order executed on one UTC day."""

    quantity: Decimal
    notional: Decimal
    last: datetime  # the day's last fill


def aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def day_totals(fills: Iterable[tuple[datetime, Decimal, Decimal]]) -> dict[date, DayTotal]:
    """Per UTC day, the quantity and notional of ``(time, quantity, notional)`` fills."""
    days: dict[date, DayTotal] = {}
    for time, qty, value in fills:
        time = aware(time)
        day = time.astimezone(UTC).date()
        total = days.get(day)
        if total is None:
            days[day] = DayTotal(qty, value, time)
        else:
            total.quantity = exact_sum((total.quantity, qty))
            total.notional = exact_sum((total.notional, value))
            total.last = max(total.last, time)
    return days


def settle(days: dict[date, DayTotal], quantity: Decimal, notional: Decimal, at: datetime) -> None:
    """Make the days add up to the order's totals (executed and quote quantity): what the totals say
    beyond the days (or short of them) goes to the day of ``at``."""
    extra_q = exact_sum((quantity, *(-t.quantity for t in days.values())))
    extra_n = exact_sum((notional, *(-t.notional for t in days.values())))
    if extra_q == 0 and extra_n == 0:
        return
    day = at.astimezone(UTC).date()
    total = days.setdefault(day, DayTotal(ZERO, ZERO, at))
    total.quantity = max(exact_sum((total.quantity, extra_q)), ZERO)
    total.notional = max(exact_sum((total.notional, extra_n)), ZERO)
    total.last = max(total.last, at)


def last_fill(days: Mapping[date, DayTotal]) -> datetime:
    return max(t.last for t in days.values())


def records_of(
    client_order_id: str,
    symbol: str,
    side: OrderSide,
    days: Mapping[date, DayTotal],
    realised_pnl: Mapping[date, Decimal],
) -> list[TradeRecord]:
    """One record per day that executed something, the first day under the client order id."""
    executed = sorted(day for day, total in days.items() if total.quantity > 0)
    return [
        TradeRecord(
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            quantity=days[day].quantity,
            notional=days[day].notional,
            realised_pnl=realised_pnl.get(day, ZERO),
            time=days[day].last,
            later_day=day != executed[0],
        )
        for day in executed
    ]


def split_execution(
    client_order_id: str,
    symbol: str,
    side: OrderSide,
    *,
    quantity: Decimal,
    notional: Decimal,
    realised_pnl: Decimal,
    fills: Sequence[Fill],
    at: datetime,
    before: Mapping[date, TradeRecord],
) -> list[TradeRecord]:
    """The order's records per day after a recording of its cumulative figures.

    ``at`` dates what the fills do not show (the latest fill, else the answer's time, else now);
    ``before`` holds the order's records so far, by day."""
    at = aware(at)
    listed = day_totals((f.time, f.quantity, f.price * f.quantity) for f in fills)
    if listed and exact_sum(t.quantity for t in listed.values()) >= quantity:
        # the answer lists every fill: they say which day each part is on
        days = listed
        settle(days, quantity, notional, last_fill(days))
    else:
        days = {day: DayTotal(r.quantity, r.notional, aware(r.time)) for day, r in before.items()}
        settle(days, quantity, notional, at)
    return records_of(client_order_id, symbol, side, days, _pnl_by_day(realised_pnl, days, before))


def _pnl_by_day(
    total: Decimal, days: Mapping[date, DayTotal], before: Mapping[date, TradeRecord]
) -> dict[date, Decimal]:
    """The days' realised PnL: each keeps what it had (less the share of quantity it lost, if any),
    and what the order realised since goes to the days that gained quantity."""
    kept: dict[date, Decimal] = {}
    for day, record in before.items():
        now_held = days[day].quantity if day in days else ZERO
        if now_held >= record.quantity:
            kept[day] = record.realised_pnl
        elif now_held > 0:  # some of its quantity was on another day after all: its PnL goes along
            kept[day] = record.realised_pnl * now_held / record.quantity
    pool = exact_sum((total, *(-value for value in kept.values())))
    gained = {
        day: t.quantity - (before[day].quantity if day in before else ZERO)
        for day, t in days.items()
        if t.quantity > (before[day].quantity if day in before else ZERO)
    }
    weights = gained or {day: t.quantity for day, t in days.items() if t.quantity > 0}
    pnl = dict(kept)
    if pool == 0 or not weights:
        return pnl
    order = sorted(weights)
    weight = exact_sum(weights.values())
    shares = {day: pool * weights[day] / weight for day in order[:-1]}
    shares[order[-1]] = exact_sum((pool, *(-value for value in shares.values())))
    for day, share in shares.items():
        pnl[day] = exact_sum((pnl.get(day, ZERO), share))
    return pnl
