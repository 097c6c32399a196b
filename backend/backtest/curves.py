"""A finished run's equity curves (equity.csv), book by book, thinned to at most a given number of points."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

STRATEGY = "strategy"
MAX_POINTS = 5000  # the most points a curve is served with (GET /backtests/{id}/equity?max_points)
CURVE_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="equity-curves")
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


@lru_cache(maxsize=16)  # at most 16 files x 4 books x 5,000 points held
def _curves(path: Path, _version: tuple[int, ...]) -> tuple[Curve, ...]:
    """The file's curves, each thinned to MAX_POINTS: only those points are parsed and held."""
    counts: dict[str, int] = {}
    for row in _rows(path):  # first pass: how many points each book has, nothing parsed
        counts[row["book"]] = counts.get(row["book"], 0) + 1
    kept = {book: thin(range(n), MAX_POINTS) for book, n in counts.items()}
    wanted = {book: set(indices) for book, (_step, indices) in kept.items()}
    seen = dict.fromkeys(counts, 0)
    points: dict[str, list[tuple[datetime, Decimal]]] = {book: [] for book in counts}
    for row in _rows(path):  # second pass: only the points kept are parsed
        book = row["book"]
        if seen[book] in wanted[book]:
            points[book].append((datetime.fromisoformat(row["time"]), Decimal(row["equity"])))
        seen[book] += 1
    names = sorted(counts, key=lambda name: name != STRATEGY)
    return tuple(Curve(book=n, points_in_run=counts[n], step=kept[n][0], points=points[n]) for n in names)


def read_curves(path: Path, max_points: int) -> list[Curve]:
    """equity.csv's equity per book (the strategy first, then the baselines in the file's order),
    at most ``max_points`` (at most MAX_POINTS) each.

    A curve longer than MAX_POINTS is thinned to MAX_POINTS once, when the file is first read, and
    that curve is thinned to ``max_points``: memory stays at the points kept, not the file's (a year
    of 1-minute bars of four books is 2 million rows), and a file already read answers from memory
    whatever ``max_points`` is asked (the route is public). Blocking: the route runs it on
    CURVE_READER, one thread of its own, so a burst of reads never holds the threads the rest of
    the service runs its database work on.
    """
    info = path.stat()
    version = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)  # a rewritten file is read again
    curves = []
    for curve in _curves(path, version):
        step, points = thin(curve.points, max_points)
        curves.append(Curve(curve.book, curve.points_in_run, curve.step * step, points))
    return curves
