"""The runbook commands in docs/ work as written: curl with the token, alembic --sql, the scripts."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.tests.process import ServerProcess
from backend.tests.tooling.conftest import REPO_ROOT, run_script
from database.migrate import upgrade

DOCS = REPO_ROOT / "docs"
TOKEN = "runbook-admin-token-0123456789abcdef"  # a throwaway token for a local test server
DEFAULT_API = "http://127.0.0.1:8000"


def _code_blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def _commands(block: str) -> list[str]:
    """Shell commands of a code block, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _service_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "QT_ADMIN_TOKEN": TOKEN,
        "QT_ADMIN_AUDIT_PATH": str(tmp_path / "audit.log"),
        "QT_TRADES_LOG_PATH": str(tmp_path / "trades.log"),
        "QT_RISK_STATE_DB": str(tmp_path / "risk_state.db"),
        "QT_MODEL_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "QT_MODEL_AUTO_TRAIN": "0",
        "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",
        **extra,
    }


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[ServerProcess]:
    process = ServerProcess(_service_env(tmp_path, sqlite_url), tmp_path / "server.log").start()
    try:
        yield process
    finally:
        process.kill()


def _curl(command: str, api: str) -> str:
    argv = shlex.split(command.replace(DEFAULT_API, api).replace("$QT_ADMIN_TOKEN", TOKEN))
    assert argv[0] == "curl"
    result = subprocess.run([*argv, "--max-time", "20"], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_admin_token_curl_examples_work_as_written(server: ServerProcess) -> None:
    (block,) = _code_blocks(DOCS / "admin_token_usage.md", "bash")
    without, with_token, kill_switch = _commands(block)
    assert re.search(r"HTTP/1.1 401", _curl(without, server.url))
    assert "kill_switch" in json.loads(_curl(with_token, server.url))
    assert json.loads(_curl(kill_switch, server.url))["kill_switch"]["enabled"] is True
    # the mutation is in the audit log, with a fingerprint and never the token
    audit = Path(server.env["QT_ADMIN_AUDIT_PATH"]).read_text()
    assert "POST /risk/kill-switch" in audit
    assert TOKEN not in audit


@pytest.mark.slow
def test_read_only_fallback_command_serves_a_snapshot_unchanged(tmp_path: Path) -> None:
    """The database-corruption runbook, as a real process on a snapshot file."""
    snapshot = tmp_path / "backups" / "trades-last-good.db"
    snapshot.parent.mkdir()
    upgrade(f"sqlite:///{snapshot}")
    before = hashlib.sha256(snapshot.read_bytes()).hexdigest()
    url = f"sqlite:///file:{snapshot}?mode=ro&uri=true"
    env = _service_env(tmp_path, url, QUANTUM_TRADER_DISABLE_SCHEDULER="0")
    process = ServerProcess(env, tmp_path / "server.log").start()
    try:
        health = process.get("/health").json()
        assert (health["status"], health["read_only"]) == ("read_only", True)
        refused = httpx_put(process, "/settings", {"QT_MAX_DAILY_LOSS": "1"})
        assert refused.status_code == 503
        assert "read-only" in refused.json()["detail"]
        # uvicorn re-raises the SIGTERM it handled after a graceful shutdown, hence -15
        assert process.terminate() in (0, -15)
        assert "service stopping" in (tmp_path / "server.log").read_text()
    finally:
        process.kill()
    assert hashlib.sha256(snapshot.read_bytes()).hexdigest() == before


def httpx_put(process: ServerProcess, path: str, body: object) -> object:
    import httpx

    return httpx.put(f"{process.url}{path}", json=body, headers={"X-Admin-Token": TOKEN}, timeout=10.0)


def test_alembic_upgrade_head_sql_renders_the_migrations_for_review(tmp_path: Path) -> None:
    alembic = Path(sys.executable).with_name("alembic")
    result = run_script(
        [alembic, "upgrade", "head", "--sql"], python="", env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE alembic_version" in result.stdout
    assert "CREATE TABLE runtime_settings" in result.stdout
    assert not (tmp_path / "x.db").exists()  # --sql never connects


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md")))
def test_every_script_a_doc_names_exists(doc: str) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    paths = set(
        re.findall(
            r"(?:python|\./|\.\\)\s*((?:backend|database|ai_engine|scripts)[/\\][\w/\\.-]+\.(?:py|sh|ps1))", text
        )
    )
    paths |= set(re.findall(r"`((?:scripts|backend/scripts|database)/[\w./-]+\.(?:py|sh|ps1))`", text))
    for path in paths:
        assert (REPO_ROOT / path.replace("\\", "/")).is_file(), f"{doc} names {path}, which does not exist"


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md")))
def test_every_relative_link_in_docs_resolves(doc: str) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (DOCS / target).exists(), f"{doc} links {target}, which does not exist"


# a fresh shell: the system interpreter, a minimal PATH, nothing activated ----------------------
FRESH = {"PATH": "/usr/bin:/bin", "HOME": str(REPO_ROOT)}
SYSTEM_PYTHON = Path("/usr/bin/python3")
RUNBOOK_SCRIPTS = [
    "database/init_db.py",
    "backend/scripts/alembic_dry_run.py",
    "backend/scripts/data_pipeline.py",
    "backend/scripts/check_dev_deps_in_runtime.py",
    "ai_engine/train_and_save.py",
]


# the dev-dependency check reads only package metadata, so it runs with whatever interpreter starts it
NEEDS_NO_REQUIREMENTS = {"backend/scripts/check_dev_deps_in_runtime.py"}


def _fresh(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO_ROOT, env=FRESH, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("script", RUNBOOK_SCRIPTS)
def test_runbook_scripts_have_a_shebang_and_run_bits(script: str) -> None:
    path = REPO_ROOT / script
    assert path.read_text().startswith("#!/usr/bin/env python3\n")
    assert path.stat().st_mode & 0o111 == 0o111
    help_text = _fresh([f"./{script}", "--help"])
    if (REPO_ROOT / ".venv" / "bin" / "python").exists() or script in NEEDS_NO_REQUIREMENTS:
        assert help_text.returncode == 0, help_text.stderr
        assert "usage:" in help_text.stdout
    else:  # a clone with only `make test`'s .venv-dev: one line saying how to make .venv, no traceback
        assert help_text.returncode == 2, help_text.stderr
        assert help_text.stderr.count("\n") == 1, help_text.stderr
        assert "make install" in help_text.stderr, help_text.stderr


@pytest.mark.skipif(not (REPO_ROOT / ".venv" / "bin" / "python").exists(), reason="needs the project's .venv")
def test_init_db_check_works_in_a_fresh_shell_both_ways(tmp_path: Path, sqlite_url: str) -> None:
    for argv in (["./database/init_db.py"], [str(SYSTEM_PYTHON), "database/init_db.py"]):
        result = _fresh([*argv, "--check", "--url", sqlite_url])
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ModuleNotFoundError" not in result.stderr
        assert result.stdout.strip().endswith("database ok")


@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="needs /usr/bin/python3")
@pytest.mark.skipif(not (REPO_ROOT / ".venv" / "bin" / "python").exists(), reason="needs the project's .venv")
def test_the_dev_deps_check_and_the_repair_script_inspect_the_same_environment() -> None:
    check = _fresh([str(SYSTEM_PYTHON), "backend/scripts/check_dev_deps_in_runtime.py", "--format", "json"])
    assert check.returncode in (0, 1), check.stderr
    inspected = Path(json.loads(check.stdout)["python"])
    assert inspected == REPO_ROOT / ".venv" / "bin" / "python"
    repair = _fresh(["./scripts/repair-dev-deps.sh", "--dry-run"])
    assert repair.returncode in (0, 1), repair.stderr
    assert str(REPO_ROOT / ".venv" / "bin" / "python") in repair.stdout or ".venv/bin/python" in repair.stdout
