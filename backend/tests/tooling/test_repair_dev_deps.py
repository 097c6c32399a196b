"""The repair helper and the pre-commit hook, run for real against a throwaway virtual environment."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.tests.tooling.conftest import REPO_ROOT, ThrowawayVenv, run_script

REPAIR = REPO_ROOT / "scripts" / "repair-dev-deps.sh"
HOOK = REPO_ROOT / ".githooks" / "pre-commit"
PS1 = REPO_ROOT / "scripts" / "repair-dev-deps.ps1"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")]

Requirements = Callable[[], tuple[Path, Path]]
PROBES = ("qt-runtime-probe", "qt-shared-probe", "qt-devonly-probe", "qt-devonly-helper")


def _repair(
    venv: ThrowawayVenv, runtime: Path, dev: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    # --python is always explicit: the helper must never touch the interpreter running the tests
    return run_script(
        [REPAIR, "--python", str(venv.python), "--requirements", str(runtime), "--dev-requirements", str(dev), *args],
        python="",
        stdin=stdin,
        env={"RUNTIME_PYTHON": str(venv.python)},
    )


@pytest.fixture
def polluted(throwaway_venv: ThrowawayVenv, probe_requirements: Requirements) -> tuple[ThrowawayVenv, Path, Path]:
    throwaway_venv.install(*PROBES)
    runtime, dev = probe_requirements()
    return throwaway_venv, runtime, dev


def test_dry_run_lists_dev_only_packages_uninstalls_nothing_and_exits_1(
    polluted: tuple[ThrowawayVenv, Path, Path],
) -> None:
    venv, runtime, dev = polluted
    before = venv.installed()
    result = _repair(venv, runtime, dev, "--dry-run")
    assert result.returncode == 1, result.stderr  # packages found: not clean, like the check
    assert "  qt-devonly-probe\n" in result.stdout
    assert "  qt-devonly-helper\n" in result.stdout
    assert "qt-shared-probe" not in result.stdout  # the runtime needs it too
    assert "Dry run: nothing uninstalled." in result.stdout
    assert venv.installed() == before


@pytest.mark.parametrize("answer", ["", "n\n", "maybe\n"])
def test_without_confirmation_nothing_is_uninstalled(polluted: tuple[ThrowawayVenv, Path, Path], answer: str) -> None:
    venv, runtime, dev = polluted
    before = venv.installed()
    result = _repair(venv, runtime, dev, stdin=answer)
    assert result.returncode == 1
    assert "Not confirmed: nothing uninstalled." in result.stdout
    assert venv.installed() == before


@pytest.mark.parametrize(("flags", "answer"), [(("--yes",), ""), ((), "y\n")])
def test_repair_removes_the_dev_only_packages_and_nothing_else(
    polluted: tuple[ThrowawayVenv, Path, Path], flags: tuple[str, ...], answer: str
) -> None:
    venv, runtime, dev = polluted
    before = venv.installed()
    result = _repair(venv, runtime, dev, *flags, stdin=answer)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Done: no development-only packages remain." in result.stdout
    assert before - venv.installed() == {"qt-devonly-probe", "qt-devonly-helper"}
    again = _repair(venv, runtime, dev, "--yes")
    assert again.returncode == 0
    assert "No development-only packages installed" in again.stdout


def test_repair_with_the_projects_requirement_files_removes_a_real_dev_requirement(
    throwaway_venv: ThrowawayVenv,
) -> None:
    throwaway_venv.install("SQLAlchemy-Utils")  # a dev-only requirement of backend/requirements-dev.txt
    before = throwaway_venv.installed()
    dry = run_script([REPAIR, "--python", str(throwaway_venv.python), "--dry-run"], python="")
    assert dry.returncode == 1
    assert "  sqlalchemy-utils\n" in dry.stdout
    result = run_script([REPAIR, "--python", str(throwaway_venv.python), "--yes"], python="")
    assert result.returncode == 0, result.stdout + result.stderr
    assert before - throwaway_venv.installed() == {"sqlalchemy-utils"}
    assert "pip" in throwaway_venv.installed()


def test_repair_exits_2_when_the_check_cannot_run(throwaway_venv: ThrowawayVenv, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not valid ===\n")
    result = _repair(throwaway_venv, bad, bad, "--yes")
    assert result.returncode == 2
    assert "nothing uninstalled" in result.stderr


# the git hook ------------------------------------------------------------------------------------
def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], python="", cwd=repo)


@pytest.fixture
def repo_with_hook(tmp_path: Path) -> Path:
    """A scratch git repository holding the hook, the guard and the requirement files."""
    repo = tmp_path / "repo"
    for relative in (
        ".githooks/pre-commit",
        "backend/scripts/check_dev_deps_in_runtime.py",
        "backend/requirements.txt",
        "backend/requirements-dev.txt",
    ):
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, repo / relative)
    assert _git(repo, "init", "-q").returncode == 0
    assert _git(repo, "config", "core.hooksPath", ".githooks").returncode == 0
    (repo / "file.txt").write_text("x\n")
    assert _git(repo, "add", "file.txt").returncode == 0
    return repo


def test_hook_aborts_the_commit_when_dev_only_packages_are_installed(
    throwaway_venv: ThrowawayVenv, repo_with_hook: Path
) -> None:
    throwaway_venv.install("SQLAlchemy-Utils")
    venv_link = repo_with_hook / ".venv"
    venv_link.symlink_to(throwaway_venv.root)  # the hook checks the repository's .venv
    result = _git(repo_with_hook, "commit", "-q", "-m", "blocked")
    assert result.returncode != 0
    output = result.stdout + result.stderr  # git passes hook output on to stderr
    assert "sqlalchemy-utils" in output
    assert "commit aborted" in output
    assert _git(repo_with_hook, "rev-parse", "HEAD").returncode != 0  # nothing was committed

    throwaway_venv.pip("uninstall", "--yes", "SQLAlchemy-Utils")
    result = _git(repo_with_hook, "commit", "-q", "-m", "allowed")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _git(repo_with_hook, "rev-parse", "HEAD").returncode == 0


def test_make_targets_run_the_guard() -> None:
    root = run_script(["make", "-n", "check-dev-deps"], python="")
    backend = run_script(["make", "-n", "-C", "backend", "check-dev-deps"], python="")
    assert "backend/scripts/check_dev_deps_in_runtime.py" in root.stdout
    assert "backend/scripts/check_dev_deps_in_runtime.py" in backend.stdout


def test_powershell_helper_offers_the_same_switches() -> None:
    text = PS1.read_text()
    for needle in ("[switch]$DryRun", "[switch]$Yes", "[string]$Python", "IsInputRedirected", "-m pip uninstall --yes"):
        assert needle in text


@pytest.mark.skipif(shutil.which("pwsh") is None, reason="PowerShell (pwsh) is not installed here")
def test_powershell_helper_dry_run(polluted: tuple[ThrowawayVenv, Path, Path]) -> None:
    venv, runtime, dev = polluted
    before = venv.installed()
    args = ["-NoProfile", "-File", PS1, "-DryRun", "-Python", venv.python, "-Requirements", runtime]
    result = run_script([str(shutil.which("pwsh")), *args, "-DevRequirements", dev], python="")
    assert result.returncode == 1, result.stderr
    assert "qt-devonly-probe" in result.stdout
    assert venv.installed() == before


def test_the_guard_runs_in_a_runtime_venv_without_packaging(throwaway_venv: ThrowawayVenv, tmp_path: Path) -> None:
    """A runtime-only venv has no `packaging`; the guard falls back to pip's vendored copy."""
    assert "packaging" not in throwaway_venv.installed()
    runtime, dev = tmp_path / "r.txt", tmp_path / "d.txt"
    runtime.write_text('pip; python_version >= "3"\n')
    dev.write_text("-r r.txt\nnot-installed-qt\n")
    result = run_script(
        [
            REPO_ROOT / "backend/scripts/check_dev_deps_in_runtime.py",
            "--requirements",
            runtime,
            "--dev-requirements",
            dev,
        ],
        python=throwaway_venv.python,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
