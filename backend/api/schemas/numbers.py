"""The response type of every amount: a decimal string (backend.amounts), typed as such in OpenAPI.

The OpenAPI document types each such field as a string with AMOUNT_PATTERN, so a client (and the
fuzz test's response-schema check) can rely on it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema

from backend.amounts import AMOUNT_PATTERN, decimal_text

Amount = Annotated[
    Decimal,
    PlainSerializer(decimal_text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "examples": ["9797.58", "0.00000001"],
            "description": "A decimal number as a string (exact; plain notation; no trailing zeros).",
        },
        mode="serialization",
    ),
]
