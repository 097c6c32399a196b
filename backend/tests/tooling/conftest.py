"""Fixtures of the tooling tests: scripts run as subprocesses, a throwaway venv, tiny local wheels."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


def run_script(
    args: Sequence[str | Path],
    *,
    python: str | Path = sys.executable,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path = REPO_ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run ``python <args>`` (or an executable when python is empty) from the repository root."""
    command = ([str(python)] if python else []) + [str(arg) for arg in args]
    full_env = {key: value for key, value in os.environ.items() if not key.startswith(("QT_", "DATABASE_URL"))}
    full_env.update(env or {})
    return subprocess.run(
        command,
        cwd=cwd,
        env=full_env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(directory: Path, name: str, version: str = "1.0", requires: Sequence[str] = ()) -> Path:
    """A minimal pure-Python wheel (one module), so tests install real distributions offline."""
    module = name.lower().replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}.py": b'"""Test probe."""\n',
        f"{dist_info}/METADATA": (
            "Metadata-Version: 2.1\n"
            f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {req}\n" for req in requires)
        ).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: qt-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{dist_info}/RECORD,,\n"
    path = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
        archive.writestr(f"{dist_info}/RECORD", record)
    return path


class ThrowawayVenv:
    """A real virtual environment with pip, outside the project; packages come from local wheels."""

    def __init__(self, root: Path, wheels: Path) -> None:
        self.root = root
        self.wheels = wheels
        self.python = root / "bin" / "python"

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_script(["-m", "pip", "--disable-pip-version-check", *args], python=self.python)

    def install(self, *names: str) -> None:
        result = self.pip("install", "--no-index", "--find-links", str(self.wheels), *names)
        assert result.returncode == 0, result.stderr

    def installed(self) -> set[str]:
        result = self.pip("list", "--format=freeze")
        assert result.returncode == 0, result.stderr
        return {line.split("==")[0].lower() for line in result.stdout.splitlines() if "==" in line}


@pytest.fixture(scope="session")
def throwaway_venv(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayVenv:
    root = tmp_path_factory.mktemp("throwaway") / "venv"
    wheels = tmp_path_factory.mktemp("wheels")
    created = subprocess.run(
        [sys.executable, "-m", "venv", str(root)], capture_output=True, text=True, timeout=240, check=False
    )
    assert created.returncode == 0, created.stderr
    build_wheel(wheels, "qt-runtime-probe")
    build_wheel(wheels, "qt-shared-probe")
    # dev-only, needing one package that the runtime also needs and one of its own
    build_wheel(wheels, "qt-devonly-helper")
    build_wheel(wheels, "qt-devonly-probe", requires=["qt-shared-probe", "qt-devonly-helper"])
    build_wheel(wheels, "qt-runtime-probe-extra", requires=[])
    build_wheel(wheels, "SQLAlchemy-Utils", version="0.0.1")
    return ThrowawayVenv(root, wheels)


@pytest.fixture
def probe_requirements(tmp_path: Path) -> Callable[[], tuple[Path, Path]]:
    """Runtime and dev requirement files naming the probe wheels."""

    def write() -> tuple[Path, Path]:
        runtime = tmp_path / "requirements.txt"
        runtime.write_text("qt-runtime-probe\nqt_shared.probe  # spelled differently on purpose (PEP 503)\n")
        dev = tmp_path / "requirements-dev.txt"
        dev.write_text("-r requirements.txt\nqt-devonly-probe\n")
        return runtime, dev

    return write
