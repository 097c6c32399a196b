"""A run whose universe filters select nothing says so: in its warnings, naming the filters and why."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from backend.backtest.engine import BacktestConfig, run_backtest
from backend.tests.backtest.factories import START, backtest_settings, replay, write_market

FIRST = START + timedelta(days=1)
LAST = START + timedelta(hours=71)


def test_a_run_whose_filters_exclude_every_symbol_warns_naming_the_filter(tmp_path: Path) -> None:
    # a reviewer's run of BTC-quoted pairs under the default QT_LIQUIDITY_QUOTE_ASSETS exited 0 with
    # every book at 0 % and no word of why
    data, clock = replay(write_market(tmp_path / "m"), FIRST)
    settings = backtest_settings(tmp_path, liquidity={"QT_LIQUIDITY_QUOTE_ASSETS": "BTC"})
    result = run_backtest(BacktestConfig(start=FIRST, end=LAST), data, clock, settings=settings)
    assert all(not book.fills for book in result.books.values())
    assert result.warnings == [
        "the universe filters selected nothing at every one of the 12 refreshes, so nothing was traded:"
        " quote_asset excluded AAAUSDT, BBBUSDT, CCCUSDT, DDDUSDT (AAAUSDT: quote USDT not in BTC)"
    ]


def test_refreshes_that_select_nothing_before_the_first_selection_are_counted(tmp_path: Path) -> None:
    # listed (the first bar) 24 h before the run starts: under a 2-day listing age its first day selects nothing
    data, clock = replay(write_market(tmp_path / "m"), FIRST)
    settings = backtest_settings(tmp_path, liquidity={"QT_LIQUIDITY_MIN_LISTING_DAYS": "2"})
    result = run_backtest(BacktestConfig(start=FIRST, end=LAST), data, clock, settings=settings)
    assert result.books["strategy"].fills
    (line,) = result.warnings
    assert line.startswith("the universe filters selected nothing at 6 of 12 refreshes (the first at 2025-01-02T00:00")
    assert "listing_age excluded AAAUSDT, BBBUSDT, CCCUSDT, DDDUSDT (AAAUSDT: listed 1.8 days ago < 2)" in line


def test_a_run_that_selects_at_every_refresh_has_no_universe_warning(tmp_path: Path) -> None:
    data, clock = replay(write_market(tmp_path / "m"), FIRST)
    result = run_backtest(BacktestConfig(start=FIRST, end=LAST), data, clock, settings=backtest_settings(tmp_path))
    assert result.warnings == []


def test_symbols_asked_for_that_were_never_selected_are_named_with_their_filter(tmp_path: Path) -> None:
    # a reviewer's BTCUSD, DOTUSD, BNBUSD, LTCUSD run traded two of the four and said nothing
    data, clock = replay(write_market(tmp_path / "m"), FIRST)
    settings = backtest_settings(tmp_path, liquidity={"QT_LIQUIDITY_MIN_PRICE": "15"})  # AAAUSDT trades near 10
    config = BacktestConfig(start=FIRST, end=LAST, symbols=("AAAUSDT", "BBBUSDT"))
    result = run_backtest(config, data, clock, settings=settings)
    assert {f["symbol"] for f in result.books["strategy"].fills} == {"BBBUSDT"}
    (line,) = result.warnings
    assert line.startswith(
        "1 of the 2 symbols asked for were never selected: price_range excluded AAAUSDT (AAAUSDT: price "
    )
    assert line.endswith(" < 15)")
