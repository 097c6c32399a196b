"""The training CLI, run as a script path from the repository root, as the runbook does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ai_engine.registry import ModelRegistry
from config.base import REPO_ROOT

SCRIPT = "ai_engine/train_and_save.py"


def _run(args: list[str], database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "QUANTUM_TRADER_", "DATABASE_URL"))}
    environment.update(
        {
            "DATABASE_URL": database_url,
            "QT_MODEL_BOOST_ROUNDS": "15",
            "QT_MODEL_FOLDS": "2",
            "QT_MODEL_THREADS": "1",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, SCRIPT, *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_trains_saves_and_records_a_run(database_url: str, tmp_path: Path, replay_dir: Path, registry: object) -> None:
    out = tmp_path / "cli-artifacts"
    result = _run(
        [
            "--output-dir",
            str(out),
            "--source",
            f"replay:{replay_dir}",
            "--days",
            "15",
            "--horizon",
            "3",
            "--seed",
            "9",
            "--activate",
            "force",
            "--symbols",
            "s000usdt,S001USDT",
        ],
        database_url,
    )
    assert result.returncode == 0, result.stderr
    assert "fold 1/2" in result.stdout  # progress output
    assert "activated (forced" in result.stdout
    assert "gate direction_blind:" in result.stdout
    [model_dir] = (out / "models").iterdir()
    assert sorted(p.name for p in model_dir.iterdir()) == ["manifest.json", "metadata.json", "model.ubj"]
    assert isinstance(registry, ModelRegistry)
    run = registry.get_run(model_dir.name)
    assert run is not None
    assert run.status == "completed"
    assert run.is_active
    assert run.params is not None
    assert run.params["request"]["symbols"] == ["S000USDT", "S001USDT"]
    assert run.params["request"]["horizon"] == 3
    assert run.params["seed"] == 9


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (
            ["--source", "replay:/does/not/exist"],
            {},
            2,
            "argument --source: replay path /does/not/exist does not exist",
        ),
        ([], {"QT_MODEL_HORIZON_BARS": "soon"}, 2, "configuration error: QT_MODEL_HORIZON_BARS='soon'"),
        (["--activate", "maybe"], {}, 2, "invalid choice: 'maybe'"),
    ],
)
def test_failures_exit_non_zero_with_a_clear_message(
    database_url: str, tmp_path: Path, args: list[str], env: dict[str, str], code: int, message: str
) -> None:
    result = _run(["--output-dir", str(tmp_path / "a"), *args], database_url, **env)
    assert result.returncode == code
    assert message in result.stderr


def _runs(database_url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from database.models.core import ModelTrainingRun

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(ModelTrainingRun)) or 0)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "argument --days: 0 is outside 1..3650"),
        (["--days", "many"], "argument --days: 'many' is not an integer"),
        (["--horizon", "0"], "argument --horizon: 0 is outside 1..500"),
        (["--interval", "7m"], "argument --interval: invalid choice: '7m'"),
        (["--symbols", "BTC-USDT"], "argument --symbols: each symbol is 2-20 letters or digits (got BTC-USDT)"),
        (
            ["--source", "simulated", "--symbols", "FOOUSDT"],
            "argument --symbols: the simulated market has no symbol FOOUSDT",
        ),
        (["--source", "kraken"], "argument --source: 'kraken': accepted: simulated, binance, database"),
    ],
)
def test_usage_errors_are_refused_before_anything_is_trained_or_recorded(
    database_url: str, tmp_path: Path, args: list[str], message: str
) -> None:
    result = _run(["--output-dir", str(tmp_path / "a"), *args], database_url)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert _runs(database_url) == 0


def test_an_unwritable_output_dir_is_refused_before_training(database_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = _run(["--output-dir", str(blocker / "artifacts"), "--source", "simulated"], database_url)
    assert result.returncode == 2
    assert f"argument --output-dir: {blocker / 'artifacts'}: cannot write there" in result.stderr
    assert "fold" not in result.stdout  # nothing was trained
    assert _runs(database_url) == 0


def _store_one_bar(database_url: str, symbol: str) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from database.models.market import Kline

    engine = create_engine(database_url)
    opened = datetime(2026, 11, 1, tzinfo=UTC)
    one = Decimal("1")
    try:
        with Session(engine) as session, session.begin():
            session.add(
                Kline(
                    source="simulated",
                    symbol=symbol,
                    interval="1h",
                    open_time=opened,
                    close_time=opened,
                    open=one,
                    high=one,
                    low=one,
                    close=one,
                    volume=one,
                    quote_volume=one,
                    fetched_at=opened,
                )
            )
    finally:
        engine.dispose()


def test_an_unknown_database_symbol_is_a_usage_error_with_no_run_recorded(database_url: str, tmp_path: Path) -> None:
    _store_one_bar(database_url, "BTCUSDT")
    result = _run(
        [
            "--output-dir",
            str(tmp_path / "a"),
            "--source",
            "database",
            "--interval",
            "1h",
            "--symbols",
            "BTCUSDT,FOOUSDT",
        ],
        database_url,
        QT_MARKET_DATA_SOURCE="simulated",
    )
    assert result.returncode == 2
    assert "argument --symbols: the klines table (source simulated, interval 1h) has no symbol FOOUSDT" in result.stderr
    assert "Traceback" not in result.stderr
    assert _runs(database_url) == 0


def test_an_unknown_binance_symbol_is_a_usage_error_with_no_run_recorded(database_url: str, tmp_path: Path) -> None:
    from backend.market.sources.simulated import SimulatedMarket
    from backend.tests.fakes.binance_server import running_fake_binance

    with running_fake_binance(SimulatedMarket(seed=7)) as server:
        url = server.url
        result = _run(
            ["--output-dir", str(tmp_path / "a"), "--source", "binance", "--symbols", "FOOUSDT"],
            database_url,
            QT_BINANCE_API_URL=url,
        )
    assert result.returncode == 2
    assert f"argument --symbols: binance ({url}) has no symbol FOOUSDT" in result.stderr
    assert "Traceback" not in result.stderr
    assert _runs(database_url) == 0
