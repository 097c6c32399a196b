"""The replay source: recorded SYMBOL.csv bars, one bar per refresh, clear errors for bad files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from backend.market.errors import MarketDataError, ReplayFileError, UnknownSymbolError
from backend.market.sources.replay import ReplayMarketSource

START_MS = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000


def write_csv(directory: Path, symbol: str, bars: int, *, quote: bool = True, base: float = 100.0) -> Path:
    header = "open_time,open,high,low,close,volume" + (",quote_volume" if quote else "")
    lines = [header]
    price = base
    for i in range(bars):
        close = round(price * (1.001 if i % 3 else 0.998), 2)
        high, low = max(price, close) + 0.5, min(price, close) - 0.5
        row = f"{START_MS + i * HOUR_MS},{price:.2f},{high:.2f},{low:.2f},{close:.2f},{10 + i % 5}.125"
        if quote:
            row += f",{(10 + i % 5) * close:.4f}"
        lines.append(row)
        price = close
    path = directory / f"{symbol}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def replay_dir(tmp_path: Path) -> Path:
    write_csv(tmp_path, "BTCUSDT", 48, base=40000.0)
    write_csv(tmp_path, "ETHUSDT", 48, quote=False, base=2000.0)
    return tmp_path


def test_starts_with_a_day_visible_and_advances_one_bar_per_refresh(replay_dir: Path) -> None:
    source = ReplayMarketSource(replay_dir)
    assert source.interval == "1h"
    first = source.klines("BTCUSDT", "1h", limit=1000)
    assert len(first) == 24
    assert source.advance() is True
    second = source.klines("BTCUSDT", "1h", limit=1000)
    assert second[:-1] == first
    assert second[-1].open_time == first[-1].open_time + timedelta(hours=1)
    assert source.server_time() == second[-1].close_time + timedelta(milliseconds=1)


def test_stays_at_the_end_when_the_files_are_exhausted(replay_dir: Path) -> None:
    source = ReplayMarketSource(replay_dir)
    while source.advance():
        pass
    assert source.exhausted
    assert len(source.klines("ETHUSDT", "1h", limit=1000)) == 48
    assert source.advance() is False


def test_tickers_cover_the_last_24_hours_and_book_tops_use_the_spread(replay_dir: Path) -> None:
    source = ReplayMarketSource(replay_dir, spread_bps=10)
    source.advance()
    bars = source.klines("BTCUSDT", "1h", limit=1000)
    window = bars[-24:]
    ticker = source.tickers_24h()["BTCUSDT"]
    assert ticker.open_price == window[0].open
    assert ticker.last_price == window[-1].close
    assert ticker.high_price == max(k.high for k in window)
    assert ticker.volume == sum(k.volume for k in window)
    top = source.book_tops()["BTCUSDT"]
    assert top.bid_price < window[-1].close < top.ask_price
    assert abs(top.spread_bps - 10) < Decimal("0.1")


def test_quote_volume_is_derived_when_the_column_is_absent(replay_dir: Path) -> None:
    bar = ReplayMarketSource(replay_dir).klines("ETHUSDT", "1h", limit=1)[0]
    assert bar.quote_volume == bar.volume * bar.close


def test_rules_are_inferred_from_the_files(replay_dir: Path) -> None:
    rules = ReplayMarketSource(replay_dir).symbol_rules()["BTCUSDT"]
    assert (rules.base_asset, rules.quote_asset) == ("BTC", "USDT")
    assert rules.tick_size == Decimal("0.01")
    assert rules.step_size == Decimal("0.001")


def test_other_intervals_and_unknown_symbols_are_refused(replay_dir: Path) -> None:
    source = ReplayMarketSource(replay_dir)
    with pytest.raises(MarketDataError, match="1h bars"):
        source.klines("BTCUSDT", "4h")
    with pytest.raises(UnknownSymbolError):
        source.klines("SOLUSDT", "1h")


def test_order_book_is_built_around_the_top(replay_dir: Path) -> None:
    source = ReplayMarketSource(replay_dir)
    book = source.order_book("BTCUSDT", limit=5)
    top = source.book_tops()["BTCUSDT"]
    assert book.bids[0].price == top.bid_price
    assert len(book.asks) == 5


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("open_time,open,high,low,volume\n1,1,1,1,1\n", 1, "missing column 'close'"),
        ("open_time,open,high,low,close,volume\n2000,1,1,1,1,1\n1000,1,1,1,1,1\n", 3, "unsorted"),
        ("open_time,open,high,low,close,volume\n1000,1,1,1,1,1\n1000,1,1,1,1,1\n", 3, "duplicate open_time 1000"),
        ("open_time,open,high,low,close,volume\n1000,1,abc,1,1,1\n", 2, "high 'abc' is not a number"),
        ("open_time,open,high,low,close,volume\nsoon,1,1,1,1,1\n", 2, "open_time 'soon' is not an integer"),
        ("open_time,open,high,low,close,volume\n1000,1,1,1,1\n", 2, "5 values, 6 columns expected"),
        ("open_time,open,high,low,close,volume\n1000,1,1,1,1,-5\n", 2, "volume '-5' must be a finite, non-negative"),
        ("open_time,open,high,low,close,volume\n1000,1,0.5,1,1,1\n", 2, "high/low do not contain open and close"),
        ("", 1, "empty file"),
    ],
)
def test_bad_files_name_file_line_and_reason(tmp_path: Path, content: str, line: int, reason: str) -> None:
    (tmp_path / "BADUSDT.csv").write_text(content)
    with pytest.raises(ReplayFileError) as caught:
        ReplayMarketSource(tmp_path)
    error = caught.value
    assert error.path.name == "BADUSDT.csv"
    assert error.line == line
    assert reason in error.reason
    assert str(error).startswith(f"{tmp_path / 'BADUSDT.csv'}:{line}: ")


def test_an_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReplayFileError, match=r"no SYMBOL\.csv files"):
        ReplayMarketSource(tmp_path)


def test_files_with_different_bar_spacing_are_refused(tmp_path: Path) -> None:
    write_csv(tmp_path, "AAAUSDT", 5)
    (tmp_path / "BBBUSDT.csv").write_text(
        "open_time,open,high,low,close,volume\n" + "".join(f"{START_MS + i * 60_000},1,1,1,1,1\n" for i in range(3))
    )
    with pytest.raises(ReplayFileError, match="differs from the other files"):
        ReplayMarketSource(tmp_path)


def test_the_factory_refuses_files_of_another_interval_than_the_kline_interval(replay_dir: Path) -> None:
    from backend.market.factory import build_source
    from config.market import MarketSettings

    settings = MarketSettings(
        _env_file=None, QT_MARKET_DATA_SOURCE="replay", QT_REPLAY_DIR=str(replay_dir), QT_MARKET_KLINE_INTERVAL="4h"
    )
    with pytest.raises(ReplayFileError, match="QT_MARKET_KLINE_INTERVAL=4h"):
        build_source(settings, lambda: datetime.now(UTC))
    ok = build_source(settings.model_copy(update={"kline_interval": "1h"}), lambda: datetime.now(UTC))
    assert ok.name == "replay"


def test_the_quote_asset_is_read_from_the_file_name_longest_first(tmp_path: Path) -> None:
    # BTCUSD was read as BTC/USDT (any unknown ending became USDT), so QT_LIQUIDITY_QUOTE_ASSETS=USD
    # excluded the recorded BTC/USD hours and USDT let them through as what they are not
    for symbol in ("BTCUSD", "BTCUSDT", "ETHBTC", "BTCFDUSD"):
        write_csv(tmp_path, symbol, 30)
    rules = ReplayMarketSource(tmp_path).symbol_rules()
    assert {s: (r.base_asset, r.quote_asset) for s, r in rules.items()} == {
        "BTCUSD": ("BTC", "USD"),
        "BTCUSDT": ("BTC", "USDT"),
        "ETHBTC": ("ETH", "BTC"),
        "BTCFDUSD": ("BTC", "FDUSD"),
    }


def test_a_file_whose_name_ends_with_no_known_quote_asset_is_refused(tmp_path: Path) -> None:
    write_csv(tmp_path, "BTCUSDT", 30)
    path = write_csv(tmp_path, "PRICES", 30)
    with pytest.raises(ReplayFileError, match="PRICES ends with no known quote asset") as caught:
        ReplayMarketSource(tmp_path)
    assert str(path) in str(caught.value)


def test_a_name_that_reads_two_ways_takes_a_three_letter_base_and_then_the_folder_s_quote() -> None:
    # longest-first alone read DOTUSD as DO/TUSD and BNBUSD as BN/BUSD
    from backend.market.sources.replay import split_symbols

    assert split_symbols(["BTCTUSD"]) == {"BTCTUSD": ("BTC", "TUSD")}
    assert split_symbols(["DOTUSD", "BNBUSD", "OPUSDT", "USDTTRY", "PRICES"]) == {
        "DOTUSD": ("DOT", "USD"),
        "BNBUSD": ("BNB", "USD"),
        "OPUSDT": ("OP", "USDT"),  # the only reading, whatever its base
        "USDTTRY": ("USDT", "TRY"),
        "PRICES": None,
    }
    # a folder of BUSD pairs: OPBUSD's first guess (OPB/USD) gives way to the folder's quote
    assert split_symbols(["BTCBUSD", "ETHBUSD", "OPBUSD"])["OPBUSD"] == ("OP", "BUSD")
    assert split_symbols(["OPBUSD"])["OPBUSD"] == ("OPB", "USD")
