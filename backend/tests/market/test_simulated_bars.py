"""The simulated price process: its AR(1) filter is scipy's lfilter bit for bit, and days generated
ahead in one batch or windows served from the cache are exactly the bars generated alone."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from backend.market.sources.simulated_bars import BarModel, ar1
from backend.market.sources.simulated_universe import ALL_SYMBOLS


@pytest.mark.parametrize(
    ("shape", "phi"),
    [((48, 256), 0.97), ((2, 47, 1440), 0.9), ((21, 47, 24), 0.9), ((1, 3, 1), 0.5), ((4, 0), 0.9)],
)
def test_ar1_is_scipys_lfilter_bit_for_bit(shape: tuple[int, ...], phi: float) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape) * 0.4
    zi = rng.standard_normal((*shape[:-1], 1))
    expected, expected_zf = lfilter([1.0], [1.0, -phi], x, axis=-1, zi=zi)
    got, zf = ar1(x, phi, zi)
    assert np.array_equal(got, expected)
    if shape[-1]:
        assert np.array_equal(zf, expected_zf)


@pytest.mark.parametrize("interval", ["1m", "5m", "1h"])
@pytest.mark.parametrize("day", [0, 7, 8, 255, 256])
def test_a_day_generated_in_a_batch_is_the_day_generated_alone(interval: str, day: int) -> None:
    batched = BarModel(42, ALL_SYMBOLS).days(interval, day, day)
    alone = BarModel(42, ALL_SYMBOLS)._generate(interval, day, day)[0]
    assert all(np.array_equal(a, b) for a, b in zip(batched, alone, strict=True))


def test_a_window_asked_for_again_is_served_read_only_from_the_cache() -> None:
    model = BarModel(42, ALL_SYMBOLS)
    first = model.days("1h", 30, 51)
    again = model.days("1h", 30, 51)
    assert again is first
    assert not first[4].flags.writeable
    fresh = BarModel(42, ALL_SYMBOLS)._generate("1h", 30, 51)[0]
    assert all(np.array_equal(a, b) for a, b in zip(first, fresh, strict=True))


def test_days_generated_ahead_in_the_background_are_the_days_generated_alone() -> None:
    ahead = BarModel(42, ALL_SYMBOLS, ahead=True)
    plain = BarModel(42, ALL_SYMBOLS)
    for day in [250, 251, 257, 258, 265, 266, 300, 301]:  # forward in batches, then a jump
        got, want = ahead.days("1m", day, day), plain.days("1m", day, day)
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True)), day
    # the jump cancelled the batch that no longer follows; the one after day 300's batch is pending
    assert list(ahead._ahead) == [("1m", 308)]
    made = ahead._ahead[("1m", 308)].result()
    alone = BarModel(42, ALL_SYMBOLS)._generate("1m", 308, 308)[0]
    assert all(np.array_equal(a, b) for a, b in zip(made.columns(308, 308), alone, strict=True))
    ahead.days("1m", 308, 308)
    assert ahead._day_cache[("1m", 308)] is made  # served from the batch made ahead
    assert list(ahead._ahead) == [("1m", 316)]  # and the next one started
    assert not plain._ahead  # without ahead nothing runs in the background


def test_hourly_bars_are_never_generated_ahead() -> None:
    model = BarModel(42, ALL_SYMBOLS, ahead=True)
    model.days("1h", 10, 10)
    assert not model._ahead


@pytest.mark.parametrize(("first", "last"), [(9, 10), (16, 16), (15, 16), (16, 17), (17, 17)])
def test_one_or_two_days_are_views_of_their_batch_and_equal_the_days_generated_alone(first: int, last: int) -> None:
    model = BarModel(42, ALL_SYMBOLS)
    model.days("1m", 9, 9)  # days 9 .. 16 made in one batch
    got = model.days("1m", first, last)
    alone = [BarModel(42, ALL_SYMBOLS)._generate("1m", d, d)[0] for d in range(first, last + 1)]
    want = [np.concatenate(parts, axis=-1) for parts in zip(*alone, strict=True)]
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    assert not any(a.flags.writeable for a in got)
    one_batch = model._day_cache[("1m", first)] is model._day_cache[("1m", last)]
    assert one_batch is (last <= 16 or first >= 17)
    assert (got[4].base is model._day_cache[("1m", first)].arrays[3]) is one_batch  # a view, or a join
    assert model.nan_free("1m", first, last)


def test_a_batch_with_a_nan_is_not_nan_free() -> None:
    model = BarModel(42, ALL_SYMBOLS)
    batch = model._batch("1m", 3, 4)
    assert batch.nan_free
    arrays = tuple(a.copy() for a in batch.arrays)
    arrays[2][5, 1500] = np.nan  # a low of day 4
    assert not type(batch).of(3, batch.per_day, batch.times.copy(), arrays).nan_free


def test_the_days_of_one_interval_never_evict_another_s() -> None:
    """A sub-hour run reads minutes and, at every whole hour, hours (one day a batch): twenty days
    of hours leave the minutes' batch in place, and each interval keeps its own 16 newest days."""
    model = BarModel(42, ALL_SYMBOLS[:3])
    minutes = model.days("1m", 9, 9)  # days 9 .. 16 in one batch
    for day in range(9, 29):
        model.days("1h", day, day)
    assert sorted(day for interval, day in model._day_cache if interval == "1m") == list(range(9, 17))
    assert sorted(day for interval, day in model._day_cache if interval == "1h") == list(range(13, 29))
    assert np.array_equal(model.days("1m", 9, 9)[4], minutes[4])
