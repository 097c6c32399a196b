"""Ranking: log-scaled quote volume with a spread penalty, cut to the universe size."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from backend.liquidity.filters import Candidate
from backend.liquidity.ranking import liquidity_score, rank
from backend.tests.liquidity.factories import Sym, book, rules, ticker


def _c(s: Sym) -> Candidate:
    return Candidate(s.symbol, rules(s), ticker(s) if s.ticker else None, book(s) if s.spread_bps is not None else None)


@pytest.mark.parametrize(
    ("volume", "spread", "penalty", "expected"),
    [
        (Decimal(999_999), 0.0, 0.02, 6.0),
        (Decimal(9_999_999), 0.0, 0.02, 7.0),
        (Decimal(9_999_999), 50.0, 0.02, 6.0),  # 50 bps of spread cost as much as 10x the volume
        (Decimal(9_999_999), 50.0, 0.0, 7.0),
        (Decimal(0), 0.0, 0.02, 0.0),
    ],
)
def test_liquidity_score_is_log_volume_minus_spread_penalty(
    volume: Decimal, spread: float, penalty: float, expected: float
) -> None:
    assert math.isclose(liquidity_score(volume, spread, penalty), expected, abs_tol=1e-9)


def test_rank_orders_by_score_and_cuts_to_the_limit() -> None:
    market = [
        Sym("AAA", quote_volume=1e7, spread_bps=1),
        Sym("BBB", quote_volume=1e9, spread_bps=1),
        Sym("CCC", quote_volume=1e8, spread_bps=1),
        Sym("DDD", quote_volume=1e6, spread_bps=1),
    ]
    ranked = rank([_c(s) for s in market], spread_penalty=0.02, limit=3, unknown_spread_bps=25)
    assert [r.symbol for r in ranked] == ["BBBUSDT", "CCCUSDT", "AAAUSDT"]


def test_wide_spread_ranks_below_tight_spread_at_equal_volume() -> None:
    market = [Sym("WIDE", spread_bps=20), Sym("TIGHT", spread_bps=1)]
    ranked = rank([_c(s) for s in market], spread_penalty=0.02, limit=10, unknown_spread_bps=25)
    assert [r.symbol for r in ranked] == ["TIGHTUSDT", "WIDEUSDT"]


def test_missing_book_is_charged_the_widest_admitted_spread() -> None:
    market = [Sym("NOBOOK", spread_bps=None), Sym("EDGE", spread_bps=24.9)]
    ranked = rank([_c(s) for s in market], spread_penalty=0.02, limit=10, unknown_spread_bps=25)
    assert [r.symbol for r in ranked] == ["EDGEUSDT", "NOBOOKUSDT"]
    assert ranked[1].spread_bps is None


def test_ties_break_by_symbol_so_runs_repeat() -> None:
    market = [Sym("ZZZ"), Sym("AAA"), Sym("MMM")]
    ranked = rank([_c(s) for s in market], spread_penalty=0.02, limit=10, unknown_spread_bps=25)
    assert [r.symbol for r in ranked] == ["AAAUSDT", "MMMUSDT", "ZZZUSDT"]
