"""`make run` itself: a busy port stops it before it touches the database or trains anything."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from backend.tests.tooling.conftest import REPO_ROOT, run_script

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def test_a_second_make_run_on_a_busy_port_stops_before_migrating(tmp_path: Path) -> None:
    database = tmp_path / "live.db"
    artifacts = tmp_path / "artifacts"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # -o: the venv counts as installed (the test must not reinstall the shared one); a clone
        # with only `make test`'s .venv-dev serves from that one (it holds the runtime too)
        venv = ".venv" if (REPO_ROOT / ".venv" / "bin" / "python").exists() else ".venv-dev"
        result = run_script(
            ["make", "--no-print-directory", "-o", f"{venv}/.installed", f"VENV={venv}", "run"],
            python="",
            env={
                "QT_PORT": str(port),
                "DATABASE_URL": f"sqlite:///{database}",
                "QT_MODEL_ARTIFACTS_DIR": str(artifacts),
                "QT_RISK_STATE_DB": str(tmp_path / "risk.db"),
            },
            cwd=REPO_ROOT,
        )
    assert result.returncode != 0
    refusals = [line for line in result.stderr.splitlines() if line.startswith("start-up refused")]
    assert refusals == [
        f"start-up refused: QT_PORT={port}: 127.0.0.1:{port} is not available "
        "(Address already in use); stop the process using it (another `make run`?) or set QT_PORT"
    ]
    assert "alembic" not in result.stdout.split("--check", 1)[1]
    assert not database.exists()
    assert not artifacts.exists()
