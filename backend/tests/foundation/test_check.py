"""`python -m backend --check` validates what start-up would; every refusal is one line naming its cause."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from backend.tests.process import free_port
from config.settings import ConfigError, load_settings

REPO_ROOT = Path(__file__).resolve().parents[3]


def _check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "QT_PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'qt.db'}",
        "QT_AUTO_MIGRATE": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "backend", "--check"],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_passes_on_a_usable_configuration(tmp_path: Path) -> None:
    proc = _check(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.strip() == "configuration ok"


def test_a_json_setting_that_is_not_json_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    proc = _check(tmp_path, QT_SYMBOL_PRICE_BOUNDS="{bad")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("configuration error: QT_SYMBOL_PRICE_BOUNDS='{bad': not valid JSON")
    assert "accepted: JSON object of per-symbol bounds" in lines[0]


@pytest.mark.parametrize(
    ("name", "create", "fragment"),
    [("nonexistent", False, "not a directory"), ("empty", True, "no SYMBOL.csv files")],
)
def test_check_refuses_a_replay_directory_start_up_could_not_read(
    tmp_path: Path, name: str, create: bool, fragment: str
) -> None:
    directory = tmp_path / name
    if create:
        directory.mkdir()
    proc = _check(tmp_path, QT_MARKET_DATA_SOURCE="replay", QT_REPLAY_DIR=str(directory))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"QT_REPLAY_DIR='{directory}'" in lines[0]
    assert fragment in lines[0]


def test_a_bad_line_in_the_env_file_is_one_line_naming_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("QT_LOG_LEVEL=INFO\nthis line is not an assignment\n# a comment\nQT_PORT=8001\n")
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigError) as raised:
        load_settings(env_file=env_file)
    assert raised.value.problems == [
        f"{env_file} line 2: cannot parse 'this line is not an assignment': expected NAME=value (# starts a comment)"
    ]
    assert [r for r in caplog.records if r.name.startswith("dotenv")] == []


def test_a_good_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QT_PORT", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("# local\nQT_PORT=8001\n")
    assert load_settings(env_file=env_file).app.port == 8001
