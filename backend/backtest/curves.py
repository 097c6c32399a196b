"""A finished run's equity curves (equity.csv), book by book, thinned to at most a given number of points."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

STRATEGY = "strategy"
T = TypeVar("T")


@dataclass(frozen=True)
class Curve:
    book: str
    points_in_run: int
    step: int
    points: list[tuple[datetime, Decimal]]


def thin(points: list[T], max_points: int) -> tuple[int, list[T]]:
    """At most ``max_points`` (at least 2) of ``points``: the first (a curve's all-cash start) and,
    of the rest, the last point of each run of ``step`` points (the final one always kept)."""
    if len(points) <= max(max_points, 1):
        return 1, list(points)
    rest = points[1:]
    step = max(1, math.ceil(len(rest) / max(max_points - 1, 1)))
    last = len(rest) - 1
    return step, [points[0], *(rest[min(i + step - 1, last)] for i in range(0, len(rest), step))]


def read_curves(path: Path, max_points: int) -> list[Curve]:
    """equity.csv's equity per book (the strategy first, then the baselines in the file's order)."""
    series: dict[str, list[tuple[datetime, Decimal]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            series.setdefault(row["book"], []).append((datetime.fromisoformat(row["time"]), Decimal(row["equity"])))
    names = sorted(series, key=lambda name: name != STRATEGY)
    curves = []
    for name in names:
        step, points = thin(series[name], max_points)
        curves.append(Curve(book=name, points_in_run=len(series[name]), step=step, points=points))
    return curves
