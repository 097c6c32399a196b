"""The first `make run` without a token generates one (issue 13, item 4), tested on a fresh copy of
the repository: every tracked (and new, not ignored) file, no backend/.env, no QT_* variables."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from backend.tests.process import free_port
from config.base import REPO_ROOT


def _fresh_clone(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = REPO_ROOT / name
        if source.is_file() and not source.is_symlink():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert not (dest / "backend" / ".env").exists()
    return dest


def _run(clone: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("QT_", "DATABASE_URL", "DB_", "QUANTUM_"))},
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, *args], cwd=clone, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_first_run_generates_a_private_token_and_says_once_how_to_use_it(tmp_path: Path) -> None:
    clone = _fresh_clone(tmp_path / "clone")
    first = _run(clone, "-m", "backend.bootstrap", "--admin-token")
    assert first.returncode == 0, first.stderr
    env_file = clone / "backend" / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    token = next(
        line.split("=", 1)[1] for line in env_file.read_text().splitlines() if line.startswith("QT_ADMIN_TOKEN=")
    )
    assert len(token) >= 40
    assert "X-Admin-Token" in first.stdout
    assert token not in first.stdout  # said how to read it, not the secret itself
    second = _run(clone, "-m", "backend.bootstrap", "--admin-token")
    assert second.returncode == 0
    assert second.stdout == ""
    assert token in env_file.read_text()
    check = _run(clone, "-m", "backend", "--check", env={"QT_AUTO_MIGRATE": "1", "QT_PORT": str(free_port())})
    assert check.returncode == 0, check.stderr
    probe = _run(
        clone,
        "-c",
        "from config.settings import load_settings; s = load_settings(); "
        "print(s.app.admin_auth_enabled, len(s.app.admin_token.get_secret_value()))",
    )
    assert probe.stdout.split() == ["True", str(len(token))], probe.stderr


def test_an_existing_blank_line_is_replaced_and_an_explicit_opt_out_is_respected(tmp_path: Path) -> None:
    from backend.bootstrap import ensure_admin_token

    env_file = tmp_path / ".env"
    env_file.write_text("QT_ENV=development\nQT_ADMIN_TOKEN=\n")
    assert ensure_admin_token(env_file, environ={}) is not None
    lines = env_file.read_text().splitlines()
    assert lines[0] == "QT_ENV=development"
    assert next(line for line in lines if line.startswith("QT_ADMIN_TOKEN=")) != "QT_ADMIN_TOKEN="
    other = tmp_path / "other.env"
    assert ensure_admin_token(other, environ={"QT_ADMIN_AUTH_DISABLED": "1"}) is None
    assert not other.exists()
    assert ensure_admin_token(other, environ={"QT_ADMIN_TOKEN": "set-elsewhere"}) is None


def test_the_token_message_names_the_address_the_service_will_listen_on(tmp_path: Path) -> None:
    # it said 127.0.0.1:8000 whatever QT_HOST and QT_PORT were
    from backend.bootstrap import ensure_admin_token

    message = ensure_admin_token(tmp_path / "a.env", environ={"QT_PORT": "9123"})
    assert message is not None
    assert "http://127.0.0.1:9123/risk" in message
    (tmp_path / "b.env").write_text("QT_PORT=9124\n")
    assert "http://127.0.0.1:9124/risk" in (ensure_admin_token(tmp_path / "b.env", environ={}) or "")
    assert "http://127.0.0.1:8000/risk" in (ensure_admin_token(tmp_path / "c.env", environ={}) or "")
    host = ensure_admin_token(tmp_path / "d.env", environ={"QT_HOST": "10.0.0.5"}) or ""
    assert "http://10.0.0.5:8000/risk" in host
    every = ensure_admin_token(tmp_path / "e.env", environ={"QT_HOST": "0.0.0.0", "QT_PORT": "9000"}) or ""  # noqa: S104
    assert "http://127.0.0.1:9000/risk" in every
