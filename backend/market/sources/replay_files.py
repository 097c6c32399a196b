"""Reading the replay source's files: one SYMBOL.csv into columns of exact Decimals, checked.

File format: a header row, then one bar per line with ``open_time`` (milliseconds since the Unix
epoch, strictly increasing), ``open, high, low, close, volume`` and optionally ``quote_volume``
(extra columns are ignored). A problem is a ReplayFileError naming the file, the line and the
reason. Every value is ``Decimal(text)`` of its cell, one object per distinct text of a file (a
bar opens at the last close). A well-formed file is read column by column; any doubt (a value that
is not a finite non-negative number, a short row, unsorted times, a high below the open) re-reads
it line by line, which names the first problem exactly as it always has.
"""

from __future__ import annotations

import csv
import itertools
import operator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from backend.market.errors import ReplayFileError

REQUIRED = ("open_time", "open", "high", "low", "close", "volume")
MAX_DP = 8  # tick and step sizes are at least 1e-8


@dataclass(frozen=True, slots=True)
class Columns:
    """One file's bars, oldest first: open times (ms) and the values, with the decimals they use."""

    times: list[int]
    open: list[Decimal]
    high: list[Decimal]
    low: list[Decimal]
    close: list[Decimal]
    volume: list[Decimal]
    quote_volume: list[Decimal] | None  # None: the file has no quote_volume column
    price_decimals: int  # most decimals of open/high/low/close, capped at MAX_DP
    qty_decimals: int  # most decimals of volume, capped at MAX_DP


def decimals(text: str) -> int:
    return len(text.split(".", 1)[1].rstrip("0")) if "." in text else 0


def load_csv(path: Path) -> Columns:
    """The bars of one file; ReplayFileError for the first problem (file, line, reason)."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ReplayFileError(path, None, f"cannot be read: {exc.strerror}") from None
    with handle:
        records = list(csv.reader(handle))
    if not records:
        raise ReplayFileError(path, 1, "empty file (a header row is required)")
    columns = [h.strip().lower() for h in records[0]]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ReplayFileError(path, 1, f"missing column {', '.join(repr(m) for m in missing)}")
    idx = [columns.index(c) for c in REQUIRED]
    if "quote_volume" in columns:
        idx.append(columns.index("quote_volume"))
    body = records[1:]
    loaded = _columns(body, idx, len(columns))
    if loaded is None:  # something is wrong: find it line by line
        loaded = _checked(path, body, idx, len(columns))
    if not loaded.times:
        raise ReplayFileError(path, None, "no bars")
    return loaded


def _columns(body: list[list[str]], idx: list[int], width: int) -> Columns | None:
    """The bars of a well-formed file, column by column; None at the first doubt."""
    rows = [r for r in body if r and (r[0].strip() or any(cell.strip() for cell in r))]  # blank lines skipped
    if not rows:
        return _build([], [[] for _ in idx[1:]], {})
    if min(map(len, rows)) < width:
        return None
    cells = list(zip(*rows, strict=False))
    texts = [list(map(str.strip, cells[i])) for i in idx]
    try:
        times = list(map(int, texts[0]))
    except ValueError:
        return None
    if not all(map(operator.lt, times, itertools.islice(times, 1, None))):
        return None
    # every distinct text once (placeholder values, each replaced by its Decimal below)
    known: dict[str, Decimal] = dict.fromkeys(itertools.chain.from_iterable(texts[1:]), Decimal(0))
    try:
        for text in known:
            value = known[text] = Decimal(text)
            if not value.is_finite() or value < 0:
                return None
    except InvalidOperation:
        return None
    values = [list(map(known.__getitem__, column)) for column in texts[1:]]
    o, h, lo, c = values[:4]
    # high/low must contain open and close: h >= max(o, c, lo) and lo <= min(o, c)
    if any(map(operator.lt, h, o)) or any(map(operator.lt, h, c)) or any(map(operator.lt, h, lo)):
        return None
    if any(map(operator.gt, lo, o)) or any(map(operator.gt, lo, c)):
        return None
    price = set(itertools.chain.from_iterable(texts[1:5]))
    return _build(times, values, {"price": price, "qty": set(texts[5])})


def _most_decimals(texts: set[str]) -> int:
    """The most decimals any of ``texts`` uses, capped at MAX_DP (where the look stops)."""
    most = 0
    for text in texts:
        if "." in text:
            most = max(most, decimals(text))
            if most >= MAX_DP:
                return MAX_DP
    return most


def _build(times: list[int], values: list[list[Decimal]], texts: dict[str, set[str]]) -> Columns:
    price_dp = _most_decimals(texts.get("price", set()))
    qty_dp = _most_decimals(texts.get("qty", set()))
    quote = values[5] if len(values) > 5 else None
    opened, high, low, close, volume = values[:5]
    return Columns(times, opened, high, low, close, volume, quote, price_dp, qty_dp)


def _checked(path: Path, body: list[list[str]], idx: list[int], width: int) -> Columns:
    """The bars read line by line, raising ReplayFileError at the first bad one."""
    times: list[int] = []
    rows: list[list[Decimal]] = []
    known: dict[str, Decimal] = {}
    price_texts: set[str] = set()
    qty_texts: set[str] = set()
    for line, record in enumerate(body, start=2):
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) < width:
            raise ReplayFileError(path, line, f"{len(record)} values, {width} columns expected")
        cells = [record[i].strip() for i in idx]
        try:
            open_time = int(cells[0])
        except ValueError:
            raise ReplayFileError(path, line, f"open_time {cells[0]!r} is not an integer (ms)") from None
        texts = cells[1:]
        try:
            values = [known[t] if t in known else known.setdefault(t, Decimal(t)) for t in texts]
            valid = sum(values, Decimal(0)).is_finite() and min(values) >= 0  # NaN or infinity: so is the sum
        except InvalidOperation:
            valid = False
        if not valid:  # name the first bad value
            names = (*REQUIRED[1:], "quote_volume")
            values = [_number(path, line, name, text) for name, text in zip(names, texts, strict=False)]
        if times and open_time <= times[-1]:
            if open_time == times[-1]:
                raise ReplayFileError(path, line, f"duplicate open_time {open_time}")
            raise ReplayFileError(path, line, f"open_time {open_time} is before the previous {times[-1]} (unsorted)")
        o, h, lo, c, _v = values[:5]
        if h < max(o, c, lo) or lo > min(o, c):
            raise ReplayFileError(path, line, "high/low do not contain open and close")
        times.append(open_time)
        rows.append(values)
        price_texts.update(cells[1:5])
        qty_texts.add(cells[5])
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in idx[1:]]
    return _build(times, columns, {"price": price_texts, "qty": qty_texts})


def _number(path: Path, line: int, name: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ReplayFileError(path, line, f"{name} {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ReplayFileError(path, line, f"{name} {text!r} must be a finite, non-negative number")
    return value
