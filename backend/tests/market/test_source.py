from datetime import UTC, datetime

import pytest

from backend.market.source import floor_time, from_ms, interval_seconds, to_ms


@pytest.mark.parametrize(
    ("interval", "seconds"),
    [("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3600), ("4h", 14_400), ("1d", 86_400)],
)
def test_interval_seconds_knows_binance_intervals(interval: str, seconds: int) -> None:
    assert interval_seconds(interval) == seconds


@pytest.mark.parametrize("interval", ["1w", "2m", "", "1H"])
def test_unknown_interval_is_refused_with_the_accepted_list(interval: str) -> None:
    with pytest.raises(ValueError, match="accepted: 1m"):
        interval_seconds(interval)


@pytest.mark.parametrize(
    ("moment", "interval", "expected"),
    [
        (datetime(2026, 1, 1, 10, 59, 59, tzinfo=UTC), "1h", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        (datetime(2026, 1, 1, 10, 7, 3, tzinfo=UTC), "5m", datetime(2026, 1, 1, 10, 5, tzinfo=UTC)),
        (datetime(2026, 1, 1, 23, 0, tzinfo=UTC), "1d", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_floor_time_gives_the_open_time_of_the_bar(moment: datetime, interval: str, expected: datetime) -> None:
    assert floor_time(moment, interval) == expected


def test_millisecond_round_trip_is_utc() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)
    assert from_ms(to_ms(moment)) == moment
    assert from_ms(to_ms(moment)).tzinfo is UTC
