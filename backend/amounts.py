"""How money and quantities are written wherever they leave the process as text: one representation.

A decimal string, exact: plain notation (never ``1E-8``), no insignificant trailing zeros (a
PostgreSQL NUMERIC(38, 18) column reads back as ``9797.580591376000000``; this writes
``9797.580591376``), and ``0`` for any zero. The API's responses (backend.api.schemas.numbers),
job details and the settings view all use it.
"""

from __future__ import annotations

from decimal import Decimal

AMOUNT_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$"


def decimal_text(value: Decimal) -> str:
    """``Decimal("9797.5800")`` -> ``"9797.58"``; ``Decimal("1E-8")`` -> ``"0.00000001"``; zero -> ``"0"``."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite amount")
    if value.is_zero():
        return "0"
    text = format(value, "f")  # exact: no context rounding, unlike Decimal.normalize()
    return text.rstrip("0").rstrip(".") if "." in text else text
