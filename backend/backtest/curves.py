"""A finished run's equity curves (equity.csv), book by book, thinned to at most a given number of points."""

from __future__ import annotations

import csv
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

STRATEGY = "strategy"
_reading = threading.Lock()
T = TypeVar("T")


@dataclass(frozen=True)
class Curve:
    book: str
    points_in_run: int
    step: int
    points: list[tuple[datetime, Decimal]]


def thin(points: Sequence[T], max_points: int) -> tuple[int, list[T]]:
    """At most ``max_points`` (at least 2) of ``points``: the first (a curve's all-cash start) and,
    of the rest, the last point of each run of ``step`` points (the final one always kept)."""
    if len(points) <= max(max_points, 1):
        return 1, list(points)
    rest = points[1:]
    step = max(1, math.ceil(len(rest) / max(max_points - 1, 1)))
    last = len(rest) - 1
    return step, [points[0], *(rest[min(i + step - 1, last)] for i in range(0, len(rest), step))]


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


@lru_cache(maxsize=8)  # at most 8 x 4 books x 5,000 points held
def _thinned(path: Path, _version: tuple[int, int], max_points: int) -> tuple[Curve, ...]:
    counts: dict[str, int] = {}
    for row in _rows(path):  # first pass: how many points each book has, nothing parsed
        counts[row["book"]] = counts.get(row["book"], 0) + 1
    kept = {book: thin(range(n), max_points) for book, n in counts.items()}
    wanted = {book: set(indices) for book, (_step, indices) in kept.items()}
    seen = dict.fromkeys(counts, 0)
    points: dict[str, list[tuple[datetime, Decimal]]] = {book: [] for book in counts}
    for row in _rows(path):  # second pass: only the points kept are parsed and held
        book = row["book"]
        if seen[book] in wanted[book]:
            points[book].append((datetime.fromisoformat(row["time"]), Decimal(row["equity"])))
        seen[book] += 1
    names = sorted(counts, key=lambda name: name != STRATEGY)
    return tuple(Curve(book=n, points_in_run=counts[n], step=kept[n][0], points=points[n]) for n in names)


def read_curves(path: Path, max_points: int) -> list[Curve]:
    """equity.csv's equity per book (the strategy first, then the baselines in the file's order).

    Memory stays at the points returned, not the file's (a year of 1-minute bars of four books is
    2 million rows), and a file already read at this size answers from memory: the route is public.
    """
    stat = path.stat()
    with _reading:  # one reader at a time: a burst of requests for a new file reads it once
        return list(_thinned(path, (stat.st_mtime_ns, stat.st_size), max_points))
