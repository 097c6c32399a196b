"""The model's view of one symbol, as the liquidity blend consumes it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    SELL = "SELL"
    HOLD = "HOLD"
    BUY = "BUY"


# Class order of the model's probability columns.
CLASSES: tuple[Action, ...] = (Action.SELL, Action.HOLD, Action.BUY)


@dataclass(frozen=True, slots=True)
class Signal:
    symbol: str
    action: Action
    confidence: float  # probability of `action`
    probabilities: dict[Action, float]  # SELL/HOLD/BUY, summing to 1
    model_version: str
