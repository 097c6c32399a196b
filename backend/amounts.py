"""How money and quantities are written wherever they leave the process as text: one representation.

A decimal string, exact: plain notation (never ``1E-8``), no insignificant trailing zeros (a
PostgreSQL NUMERIC(38, 18) column reads back as ``9797.580591376000000``; this writes
``9797.580591376``), and ``0`` for any zero. The API's responses (backend.api.schemas.numbers),
job details and the settings view all use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal

AMOUNT_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$"


_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # additions never round


def exact_sum(values: Iterable[Decimal], start: Decimal = Decimal(0)) -> Decimal:
    """The sum of ``values`` without rounding, so the same in any order or grouping.

    Decimal's default context rounds every result to 28 significant digits, and a realised PnL made
    from an average cost (a division) has 28 of them: per fill, per order and per day, the same
    figures added in another grouping differed in the last digit (the ledger's day against the risk
    guard's). Every total of money that two places must agree on is made with this."""
    total = start
    for value in values:
        total = _EXACT.add(total, value)
    return total


def decimal_text(value: Decimal) -> str:
    """``Decimal("9797.5800")`` -> ``"9797.58"``; ``Decimal("1E-8")`` -> ``"0.00000001"``; zero -> ``"0"``."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite amount")
    if value.is_zero():
        return "0"
    text = format(value, "f")  # exact: no context rounding, unlike Decimal.normalize()
    return text.rstrip("0").rstrip(".") if "." in text else text
