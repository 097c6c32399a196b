"""The Makefile targets of the tooling: check-dev-deps, lint-venv, and lint choosing its linters."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backend.tests.tooling.conftest import REPO_ROOT, run_script

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the Makefiles, so `make` can be asked what it would do without touching the repo."""
    shutil.copy2(REPO_ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "backend").mkdir()
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy2(REPO_ROOT / "backend" / name, tmp_path / "backend" / name)
    return tmp_path


def _make(checkout: Path, *args: str) -> str:
    result = run_script(["make", "-n", *args], python="", cwd=checkout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_lint_uses_the_linters_venv_when_present(checkout: Path) -> None:
    assert ".venv-dev/bin/ruff check ." in _make(checkout, "lint")
    ruff = checkout / ".venv_linters" / "bin" / "ruff"
    ruff.parent.mkdir(parents=True)
    ruff.write_text("#!/bin/sh\n")
    plan = _make(checkout, "lint")
    assert ".venv_linters/bin/ruff check ." in plan
    assert ".venv_linters/bin/ruff format --check ." in plan
    assert "pip install" not in plan  # no dev venv needed then


def test_lint_venv_isolates_the_linters_with_system_site_packages(checkout: Path) -> None:
    plan = _make(checkout, "lint-venv")
    assert "-m venv .venv_linters --system-site-packages" in plan
    assert "pip install --disable-pip-version-check --quiet ruff mypy black bandit safety" in plan
    assert "quantum-trader-runtime.pth" in plan  # mypy in the linters venv sees the runtime in .venv


@pytest.mark.parametrize(
    ("args", "python"),
    [(("check-dev-deps",), "python3"), (("-C", "backend", "check-dev-deps"), "python3")],
    ids=["root", "backend"],
)
def test_check_dev_deps_uses_the_runtime_venv(checkout: Path, args: tuple[str, ...], python: str) -> None:
    assert f"{python} " in _make(checkout, *args)  # no .venv in the copy: the system python3
    venv_python = checkout / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("#!/bin/sh\n")
    plan = _make(checkout, *args)
    assert ".venv/bin/python" in plan
    assert "backend/scripts/check_dev_deps_in_runtime.py" in plan
