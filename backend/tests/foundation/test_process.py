"""The real process: uvicorn serves the factory, and SIGTERM shuts it down cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.tests.conftest import ADMIN_TOKEN
from backend.tests.process import ServerProcess


@pytest.mark.slow
def test_uvicorn_serves_and_stops_cleanly_on_sigterm(tmp_path: Path, sqlite_url: str) -> None:
    server = ServerProcess(
        {
            "DATABASE_URL": sqlite_url,
            "QT_ADMIN_TOKEN": ADMIN_TOKEN,
            "QT_ADMIN_AUDIT_PATH": str(tmp_path / "audit.log"),
            "QT_RISK_STATE_DB": str(tmp_path / "risk.db"),
            "QT_TRADES_LOG_PATH": str(tmp_path / "trades.log"),
            "QT_MODEL_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
            "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",
        },
        tmp_path / "server.log",
    )
    server.start()
    try:
        assert server.get("/health").status_code == 200
        assert server.get("/scheduler/status").status_code == 401
        assert server.get("/scheduler/status", headers={"X-Admin-Token": ADMIN_TOKEN}).status_code == 200
    finally:
        code = server.terminate()
    log = (tmp_path / "server.log").read_text()
    # uvicorn re-raises the captured SIGTERM after its graceful shutdown, hence -15 rather than 0
    assert code in (0, -15), log
    assert "service stopping" in log
    assert "Traceback" not in log


@pytest.mark.slow
def test_json_log_format_makes_every_line_json_uvicorns_included(tmp_path: Path, sqlite_url: str) -> None:
    server = ServerProcess(
        {
            "DATABASE_URL": sqlite_url,
            "QT_LOG_FORMAT": "json",
            "QT_ADMIN_TOKEN": ADMIN_TOKEN,
            "QT_ADMIN_AUDIT_PATH": str(tmp_path / "audit.log"),
            "QT_RISK_STATE_DB": str(tmp_path / "risk.db"),
            "QT_TRADES_LOG_PATH": str(tmp_path / "trades.log"),
            "QT_MODEL_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
            "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",
        },
        tmp_path / "server.log",
    )
    server.start()
    try:
        assert server.get("/health").status_code == 200
    finally:
        server.terminate()
    lines = (tmp_path / "server.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # a plain-text line fails here
    loggers = {record["logger"] for record in records}
    assert {"uvicorn.error", "uvicorn.access", "backend"} <= loggers
