"""The Makefile targets of the tooling: check-dev-deps, lint-venv, and lint choosing its linters."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from backend.tests.tooling.conftest import REPO_ROOT, run_script

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the Makefiles, so `make` can be asked what it would do without touching the repo."""
    shutil.copy2(REPO_ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "backend").mkdir()
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "requirements.lock", "requirements-dev.lock"):
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


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _locked(path: Path) -> dict[str, list[str]]:
    """name -> the lines of its entry in a lock file."""
    entries: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            current = line.split("==", 1)[0].lower()
            entries[current] = [line]
        elif current and line.startswith(" "):
            entries[current].append(line)
    return entries


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_the_locks_pin_every_requirement_with_hashes(requirements: str, lock: str) -> None:
    backend = REPO_ROOT / "backend"
    entries = _locked(backend / lock)
    wanted = _requirement_names(backend / requirements)
    if requirements == "requirements-dev.txt":
        wanted |= _requirement_names(backend / "requirements.txt")
    missing = wanted - set(entries)
    assert not missing, f"not in backend/{lock}: {sorted(missing)}; run `make lock`"
    for name, lines in entries.items():
        assert "==" in lines[0], name
        assert any("--hash=sha256:" in line for line in lines), name


def test_make_run_and_make_test_install_the_locks_with_hashes(checkout: Path) -> None:
    run, test = _make(checkout, "run"), _make(checkout, "test")
    assert "--require-hashes --no-deps -r backend/requirements.lock" in run
    assert "--require-hashes --no-deps -r backend/requirements-dev.lock" in test
    assert "pip install --disable-pip-version-check --quiet -r backend/requirements" not in run + test
    assert "uv pip compile --universal" in _make(checkout, "lock")


def _make_with_path(checkout: Path, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(shutil.which("make")), "-n", *args],
        cwd=checkout,
        env={"PATH": str(path), "HOME": str(checkout)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_any_python_from_3_11_on_the_path_is_used(checkout: Path, tmp_path: Path, version: str) -> None:
    candidates = [
        shutil.which(f"python{version}"),
        *map(str, Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}")),
    ]
    probes = [
        subprocess.run([c, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=False)
        for c in candidates
        if c
    ]
    probe = next((p for p in probes if p.returncode == 0), None)
    if probe is None:
        pytest.skip(f"python{version} is not installed here")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()  # a PATH with only this interpreter (pyenv shims resolved to the real binary)
    (bin_dir / f"python{version}").symlink_to(probe.stdout.strip())
    plan = _make_with_path(checkout, bin_dir, "install")
    assert plan.returncode == 0, plan.stderr
    assert f"python{version} -m venv .venv" in plan.stdout


def test_no_suitable_python_says_so(checkout: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = subprocess.run(
        [str(shutil.which("make")), "python-check"],
        cwd=checkout,
        env={"PATH": str(empty), "HOME": str(checkout)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "no Python >= 3.11 on the PATH" in result.stderr
