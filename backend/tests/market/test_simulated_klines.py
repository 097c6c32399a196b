"""The simulated klines' caches: one slice per moment, Klines reused across refreshes, same text."""

from __future__ import annotations

import numpy as np
import pytest

from backend.market.sources import simulated_klines
from backend.market.sources.simulated import SimulatedMarket
from backend.market.sources.simulated_klines import reusable, same_text
from backend.tests.market.conftest import FrozenClock

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "NOVAUSDT")


def _refresh(market: SimulatedMarket) -> dict[str, list]:
    return {s: market.klines(s, "1h", limit=200) for s in SYMBOLS}


def test_every_symbol_at_one_moment_reads_one_slice_of_the_bars(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = SimulatedMarket(seed=3, clock=clock)
    days = []
    original = market._bars.days
    monkeypatch.setattr(market._bars, "days", lambda *a: days.append(a) or original(*a))
    got = _refresh(market)
    assert len(days) == 1  # four symbols, one look-up of the bars
    fresh = SimulatedMarket(seed=3, clock=clock)
    assert {s: repr(ks) for s, ks in got.items()} == {s: repr(fresh.klines(s, "1h", limit=200)) for s in SYMBOLS}


def test_a_refresh_reuses_the_last_refreshs_klines_and_makes_only_the_new_bars(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = SimulatedMarket(seed=3, clock=clock)
    rows = [market._index[s] for s in SYMBOLS[:3]]
    slow = []
    original = simulated_klines.reusable
    monkeypatch.setattr(simulated_klines, "reusable", lambda *a: slow.append(a) or original(*a))
    before = _refresh(market)
    changed = 0
    for _ in range(12):  # four hours on, twelve times: across the days the window spans changing
        clock.advance(hours=4)
        after = _refresh(market)
        moment = market._klines._moment
        assert moment is not None
        assert moment.exact is not None
        changed += int((~moment.exact[rows]).sum())
        fresh = SimulatedMarket(seed=3, clock=clock)
        for symbol in SYMBOLS:
            assert repr(after[symbol]) == repr(fresh.klines(symbol, "1h", limit=200))
            if symbol == "NOVAUSDT":
                continue  # listed a fixed number of days before the clock: a new day, a new listing time
            old = {k.open_time: k for k in before[symbol]}
            kept = [k for k in after[symbol] if k.open_time in old]
            same = [k is old[k.open_time] for k in kept]  # the same objects, not equal copies
            assert len(kept) == 196
            assert sum(same) >= 195  # (a float next to a rounding tie is made again)
        before = after
    # a window over other days changes the overlap's floats (here twice for two of the symbols): one
    # comparison for all symbols finds their text unchanged, and only a symbol with a float next
    # to a rounding tie is compared on its own
    assert changed >= 4
    assert len(slow) <= changed // 2


def _text(x: float, dp: int) -> str:
    return format(x, f".{dp}f")


@pytest.mark.parametrize("dp", [0, 2, 4, 8])
def test_floats_called_the_same_text_format_to_the_same_text(dp: int) -> None:
    rng = np.random.default_rng(dp)
    # values, their neighbours a few ulps away, and values next to the rounding ties
    base = np.exp(rng.uniform(-8, 16, 4000))
    ties = (np.round(base * 10.0**dp) + 0.5) / 10.0**dp
    a = np.concatenate([base, ties, ties, base])
    b = np.concatenate(
        [
            np.nextafter(np.nextafter(base, np.inf), np.inf),
            np.nextafter(ties, np.inf),
            np.nextafter(ties, -np.inf),
            base * (1 + 3e-16),
        ]
    )
    six_a = np.vstack([a] * 6)
    six_b = np.vstack([b] * 6)
    same = same_text(six_a, six_b, (dp, dp))
    for x, y, called_same in zip(a.tolist(), b.tolist(), same.tolist(), strict=True):
        if called_same:
            assert _text(x, dp) == _text(y, dp)
            assert _text(x, 4) == _text(y, 4)
            assert int(x / 400) == int(y / 400)
    # and it recognises most harmless differences (else the cache would make every bar again)
    assert same[: base.size].mean() > 0.9


def test_same_text_refuses_non_positive_nan_and_huge_values() -> None:
    a = np.array([[0.0, -1.5, np.nan, 1e300]] * 6)
    assert not same_text(a, a.copy(), (2, 2)).any()


def test_reusable_matches_by_time_and_marks_changed_bars() -> None:
    stamps = np.array([0.0, 60.0, 120.0])
    floats = np.vstack([[1.0, 2.0, 3.0]] * 6)
    new_stamps = np.array([60.0, 120.0, 180.0])
    new_floats = np.vstack([[2.0, 3.5, 4.0]] * 6)
    assert reusable(stamps, floats, new_stamps, new_floats, (2, 2)).tolist() == [1, -1, -1]
    assert reusable(stamps[:0], floats[:, :0], new_stamps, new_floats, (2, 2)).tolist() == [-1, -1, -1]


def test_a_window_without_gaps_is_copied_out_and_one_with_gaps_is_filtered(clock: FrozenClock) -> None:
    market = SimulatedMarket(seed=3, clock=clock)
    for _ in range(3):
        got = _refresh(market)
        clock.advance(hours=1)
        got["BTCUSDT"].clear()  # the caller's list: the kept Klines are not touched
    after = _refresh(market)
    fresh = SimulatedMarket(seed=3, clock=clock)
    for symbol in SYMBOLS:
        assert None not in after[symbol]
        assert repr(after[symbol]) == repr(fresh.klines(symbol, "1h", limit=200))
    assert len(after["BTCUSDT"]) == 200
    assert len(after["NOVAUSDT"]) < 200  # bars before its listing are left out
    assert market._klines._last[("BTCUSDT", "1h")].gapless
    assert not market._klines._last[("NOVAUSDT", "1h")].gapless


def test_moments_sliced_from_the_same_days_are_not_compared_because_their_floats_are_the_same(
    clock: FrozenClock,
) -> None:
    market = SimulatedMarket(seed=3, clock=clock)
    _refresh(market)
    same_days = other_days = 0
    for _ in range(12):
        before = market._klines._moment
        assert before is not None
        clock.advance(hours=4)
        _refresh(market)
        moment = market._klines._moment
        assert moment is not None
        assert moment.exact is not None
        n = before.stamps.size - moment.shift
        old, new = before.floats[:, :, moment.shift :], moment.floats[:, :, :n]
        if moment.days == before.days:
            same_days += 1
            assert np.array_equal(old, new, equal_nan=True)  # what the shortcut relies on
            assert moment.exact.all()
        else:
            other_days += 1
            rows_same = ((old == new) | (np.isnan(old) & np.isnan(new))).all(axis=(0, 2))
            np.testing.assert_array_equal(moment.exact, rows_same)  # compared, symbol by symbol
    assert same_days
    assert other_days
