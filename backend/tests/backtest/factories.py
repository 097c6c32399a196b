"""Small recorded markets for backtest tests: SYMBOL.csv files in the replay format, made here."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from backend.backtest.clock import BacktestClock
from backend.backtest.data import BacktestData, open_replay
from config.settings import Settings, load_settings

START = datetime(2025, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")
# Settings under which the small markets pass the liquidity filters.
BACKTEST_ENV = {
    "liquidity": {"QT_LIQUIDITY_MIN_QUOTE_VOLUME": "0", "QT_LIQUIDITY_MIN_LISTING_DAYS": "0"},
    "risk": {"QT_MAX_NOTIONAL_PER_TRADE": "100000", "QT_MAX_POSITION_PER_SYMBOL": "100000"},
    "execution": {"QT_EXECUTION_MIN_NOTIONAL": "10"},
}

Mutate = Callable[[int, list[float]], list[float]]


def write_market(
    folder: Path,
    *,
    bars: int = 72,
    symbols: tuple[str, ...] = SYMBOLS,
    seed: int = 7,
    mutate: Mutate | None = None,
) -> Path:
    """Random-walk hourly bars from START; ``mutate(open_ms, [o, h, l, c, v])`` may rewrite a bar."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k, symbol in enumerate(symbols):
        price = 10.0 * (k + 1)
        lines = ["open_time,open,high,low,close,volume"]
        for i in range(bars):
            close = price * float(np.exp(rng.normal(0, 0.01)))
            high = max(price, close) * (1 + abs(rng.normal(0, 0.002)))
            low = min(price, close) * (1 - abs(rng.normal(0, 0.002)))
            volume = 1000.0 * (k + 1) * (1 + abs(rng.normal(0, 0.5)))
            open_ms = int(START.timestamp() * 1000) + i * HOUR_MS
            row = [price, high, low, close, volume]
            if mutate is not None:
                row = mutate(open_ms, row)
            o, h, lo, c, v = row
            h, lo = max(h, o, c), min(lo, o, c)
            lines.append(f"{open_ms},{o:.4f},{h:.4f},{lo:.4f},{c:.4f},{v:.2f}")
            price = close
        (folder / f"{symbol}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def backtest_settings(tmp_path: Path, **extra: dict[str, str]) -> Settings:
    sections = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    sections["model"] = {"QT_MODEL_ARTIFACTS_DIR": str(tmp_path / "artifacts"), "QT_MODEL_AUTO_TRAIN": "0"}
    sections["risk"]["QT_RISK_STATE_DB"] = str(tmp_path / "risk_state.db")
    for name, values in extra.items():
        sections.setdefault(name, {}).update(values)
    return load_settings(sections, env_file=False)


def replay(folder: Path, start: datetime) -> tuple[BacktestData, BacktestClock]:
    clock = BacktestClock(start)
    return open_replay(folder, clock), clock


def store_klines(folder: Path, database_url: str, source: str = "binance") -> None:
    """The folder's bars stored in DATABASE_URL's klines table under ``source``, as the data pipeline would."""
    from backend.market.sources.replay import ReplayMarketSource
    from backend.market.store import KlineStore
    from database.session import make_engine, make_session_factory

    end = datetime(2030, 1, 1, tzinfo=UTC)
    replay = ReplayMarketSource(folder, clock=lambda: end)  # every bar visible
    engine = make_engine(database_url)
    try:
        store = KlineStore(make_session_factory(engine))
        for symbol in replay.symbols:
            bars = replay.klines(symbol, replay.interval, start=replay.first_open, limit=1000)
            store.upsert(source, symbol, replay.interval, bars)
    finally:
        engine.dispose()


def set_backtest_env(monkeypatch: Any, tmp_path: Path) -> None:
    """The environment of a CLI test: BACKTEST_ENV, and the risk store and artifacts in ``tmp_path``."""
    for values in BACKTEST_ENV.values():
        for name, value in values.items():
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("QT_RISK_STATE_DB", str(tmp_path / "risk.db"))
    monkeypatch.setenv("QT_MODEL_ARTIFACTS_DIR", str(tmp_path / "artifacts"))


# POST /backtests over write_market's folder (QT_REPLAY_DIR of the `backtest_client` fixture)
BODY = {
    "source": "replay",
    "start": "2025-01-02T00:00:00Z",
    "end": "2025-01-02T12:00:00Z",
    "baselines": ["equal_weight"],
}
WAIT_SECONDS = 180  # a deadline for the worker, not a timing assertion


def wait_done(client: Any, run_id: int) -> dict[str, Any]:
    """The run's record once its worker has finished it (completed or failed)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/backtests/{run_id}").json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"backtest {run_id} not finished within {WAIT_SECONDS}s")
