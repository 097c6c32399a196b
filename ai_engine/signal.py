"""The model's view of one symbol, as the liquidity blend consumes it."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Action(StrEnum):
    SELL = "SELL"
    HOLD = "HOLD"
    BUY = "BUY"


# Class order of the model's probability columns.
CLASSES: tuple[Action, ...] = (Action.SELL, Action.HOLD, Action.BUY)


class Signal(NamedTuple):
    """Immutable; a NamedTuple rather than a frozen dataclass because the predictor builds one per
    symbol per call and a frozen dataclass costs five times as much to build."""

    symbol: str
    action: Action
    confidence: float  # probability of `action`
    probabilities: dict[Action, float]  # SELL/HOLD/BUY, summing to 1
    model_version: str
