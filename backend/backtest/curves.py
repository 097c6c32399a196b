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
    """The last point of each run of ``step`` points (the final one always kept); at most ``max_points``."""
    if not points:
        return 1, []
    step = max(1, math.ceil(len(points) / max_points))
    last = len(points) - 1
    return step, [points[min(i + step - 1, last)] for i in range(0, len(points), step)]


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
