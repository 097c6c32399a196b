"""The backtest worker receives the service's settings as JSON data (never a pickle): a round trip
keeps every value but the secrets a run does not need, and anything else on stdin is refused in one line."""

from __future__ import annotations

import subprocess
import sys

from backend.backtest.worker import decode_settings, encode_settings
from backend.tests.conftest import SettingsFactory


def test_settings_survive_the_pipe_exactly_but_the_secrets_a_run_does_not_need(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        database={"DB_PASS": "db-secret-789"},
        execution={"QT_BINANCE_API_KEY": "key-123", "QT_BINANCE_API_SECRET": "secret-456"},
        risk={"QT_MAX_NOTIONAL_PER_TRADE": "750.25"},
    )
    back = decode_settings(encode_settings(settings))
    withheld = {"binance_api_key": None, "binance_api_secret": None}
    assert back.execution == settings.execution.model_copy(update=withheld)
    assert {name: getattr(back, name) for name in ("risk", "liquidity", "market", "model", "database")} == {
        name: getattr(settings, name) for name in ("risk", "liquidity", "market", "model", "database")
    }
    assert b"db-secret-789" in encode_settings(settings)  # the pipe carries the database's; nothing prints it
    assert b"secret-456" not in encode_settings(settings)  # a backtest never needs the exchange's keys


def test_the_worker_refuses_anything_but_settings_json_without_running_it() -> None:
    payload = b"\x80\x04\x95cos\nsystem\n(S'touch /tmp/qt-pwned'\ntR."  # a pickle that would run code
    done = subprocess.run(
        [sys.executable, "-m", "backend.backtest.worker", "1", "/nonexistent"],
        input=payload,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "does not hold the service's settings" in done.stderr.decode()


def test_a_failed_run_records_its_bad_input_in_the_request_s_words() -> None:
    # the record said "BacktestInputError: --interval 1h does not match ..." for the body's field interval
    from backend.backtest.data import BacktestInputError
    from backend.backtest.worker import failure_message

    bad = BacktestInputError("--interval 1h does not match the files in /data: 5m bars; --retrain-days too")
    assert failure_message(bad) == "interval 1h does not match the files in /data: 5m bars; retrain_days too"
    assert failure_message(RuntimeError("disk full\nmore")) == "RuntimeError: disk full"
    in_path = BacktestInputError("--interval 1h does not match the files in /data/btc--usd: 5m bars")
    assert failure_message(in_path) == "interval 1h does not match the files in /data/btc--usd: 5m bars"
