"""The dev-only dependency guard: requirement parsing, the runtime closure, the CLI's exit codes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backend.scripts.check_dev_deps_in_runtime import (
    Installed,
    RequirementsError,
    find_dev_only,
    normalise,
    parse_requirements,
)
from backend.tests.tooling.conftest import REPO_ROOT, run_script

SCRIPT = REPO_ROOT / "backend" / "scripts" / "check_dev_deps_in_runtime.py"


@dataclass
class FakeDist:
    """The slice of importlib.metadata.Distribution the guard reads."""

    name: str
    requires: list[str] = field(default_factory=list)
    version: str = "1.0"

    @property
    def metadata(self) -> dict[str, str]:
        return {"Name": self.name}


def installed(*dists: FakeDist) -> Installed:
    return Installed({normalise(d.name): d for d in dists})  # type: ignore[misc]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SQLAlchemy-Utils", "sqlalchemy-utils"),
        ("sqlalchemy_utils", "sqlalchemy-utils"),
        ("Zope.Interface", "zope-interface"),
        ("a__b--c..d", "a-b-c-d"),
        ("PyYAML", "pyyaml"),
    ],
)
def test_names_are_normalised_per_pep_503(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_includes_extras_markers_comments_and_continuations_are_parsed(tmp_path: Path) -> None:
    write(tmp_path, "base.txt", "# runtime\nfastapi>=0.1  # web\nuvicorn[standard]>=0.30\n")
    dev = write(
        tmp_path,
        "dev.txt",
        "-r base.txt\n--index-url https://example.invalid/simple\n\npytest \\\n    >=8\n"
        'winonly; sys_platform == "win32"\n-e git+https://example.invalid/x.git#egg=editable_pkg\n',
    )
    listed = parse_requirements(dev)
    assert [item.name for item in listed] == ["fastapi", "uvicorn", "pytest", "winonly", "editable-pkg"]
    assert listed[1].requirement.extras == {"standard"}
    assert str(listed[2].requirement.specifier) == ">=8"
    assert listed[2].where == "dev.txt:4"
    assert listed[3].requirement.marker is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fastapi\nnot a requirement!!\n", "dev.txt:2: invalid requirement"),
        ("-r missing.txt\n", "missing.txt: file not found (included from"),
        ("--frobnicate\n", "dev.txt:1: unsupported option '--frobnicate'"),
        ("-r dev.txt\n", "includes itself"),
        ("-r\n", "dev.txt:1: -r needs a file name"),
    ],
)
def test_a_bad_requirements_file_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    dev = write(tmp_path, "dev.txt", text)
    with pytest.raises(RequirementsError) as info:
        parse_requirements(dev)
    assert message in str(info.value)


def test_transitive_runtime_packages_are_never_reported(tmp_path: Path) -> None:
    runtime = write(tmp_path, "r.txt", "web\n")
    dev = write(tmp_path, "d.txt", "-r r.txt\nyamltool\ntester\n")
    env = installed(
        FakeDist("web", ["yamltool>=5; extra == 'standard'", "pyyaml"]),
        FakeDist("PyYAML"),
        FakeDist("yamltool"),
        FakeDist("tester", ["pluggy", "PyYAML", "notinstalled"]),
        FakeDist("pluggy"),
    )
    findings = find_dev_only(runtime, dev, env)
    # yamltool is only pulled in through web's "standard" extra, which the runtime does not ask for
    assert [(f.name, f.reason) for f in findings] == [
        ("pluggy", "required by tester"),
        ("tester", "listed in d.txt:3"),
        ("yamltool", "listed in d.txt:2"),
    ]


def test_an_extra_requested_by_the_runtime_covers_what_it_pulls_in(tmp_path: Path) -> None:
    runtime = write(tmp_path, "r.txt", "web[standard]\n")
    dev = write(tmp_path, "d.txt", "-r r.txt\nyamltool\n")
    env = installed(FakeDist("web", ["yamltool; extra == 'standard'"]), FakeDist("yamltool"))
    assert find_dev_only(runtime, dev, env) == []


@pytest.mark.parametrize(
    ("marker", "reported"),
    [('sys_platform == "nonexistent-os"', False), ('python_version >= "3"', True)],
)
def test_environment_markers_decide_whether_a_requirement_applies(tmp_path: Path, marker: str, reported: bool) -> None:
    runtime = write(tmp_path, "r.txt", "\n")
    dev = write(tmp_path, "d.txt", f"tool; {marker}\n")
    findings = find_dev_only(runtime, dev, installed(FakeDist("tool")))
    assert bool(findings) is reported


def test_a_runtime_requirement_under_a_false_marker_does_not_shield_a_dev_package(tmp_path: Path) -> None:
    runtime = write(tmp_path, "r.txt", 'tool; sys_platform == "nonexistent-os"\n')
    dev = write(tmp_path, "d.txt", "-r r.txt\ntool\n")
    assert [f.name for f in find_dev_only(runtime, dev, installed(FakeDist("tool")))] == ["tool"]


def test_packages_not_installed_and_unrelated_packages_are_not_reported(tmp_path: Path) -> None:
    runtime = write(tmp_path, "r.txt", "web\n")
    dev = write(tmp_path, "d.txt", "-r r.txt\nabsent\n")
    assert find_dev_only(runtime, dev, installed(FakeDist("web"), FakeDist("pip"), FakeDist("other"))) == []


# the CLI, as a subprocess of this interpreter (whose environment holds the dev tools) -------------
def _cli(*args: str | Path) -> Any:
    return run_script([SCRIPT, *args])


def test_cli_lists_dev_only_packages_one_a_line_and_exits_1(tmp_path: Path) -> None:
    runtime = write(tmp_path, "r.txt", "fastapi\n")
    dev = write(tmp_path, "d.txt", "-r r.txt\npytest\nstarlette\n")
    result = _cli("--requirements", runtime, "--dev-requirements", dev)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "pytest" in lines
    assert "pluggy" in lines
    assert "iniconfig" in lines
    # starlette is listed as dev but fastapi (runtime) needs it
    assert "starlette" not in lines
    assert "fastapi" not in lines
    assert "development-only package(s) installed" in result.stderr


def test_cli_exits_0_when_nothing_dev_only_is_installed(tmp_path: Path) -> None:
    runtime = write(tmp_path, "r.txt", "fastapi\n")
    dev = write(tmp_path, "d.txt", "-r r.txt\nstarlette\nnot-installed-anywhere-qt\n")
    result = _cli("--requirements", runtime, "--dev-requirements", dev)
    assert (result.returncode, result.stdout) == (0, "")


def test_cli_json_format_gives_name_version_and_reason(tmp_path: Path) -> None:
    runtime = write(tmp_path, "r.txt", "fastapi\n")
    dev = write(tmp_path, "d.txt", "-r r.txt\npytest\n")
    result = _cli("--requirements", runtime, "--dev-requirements", dev, "--format", "json")
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    by_name = {item["name"]: item for item in payload["packages"]}
    assert by_name["pytest"]["reason"] == "listed in d.txt:2"
    assert by_name["pluggy"]["reason"] == "required by pytest"
    assert by_name["pytest"]["version"]


def test_cli_exits_2_on_a_bad_requirements_file(tmp_path: Path) -> None:
    runtime = write(tmp_path, "r.txt", "fastapi\n")
    dev = write(tmp_path, "d.txt", "-r r.txt\n\nbad requirement ===\n")
    result = _cli("--requirements", runtime, "--dev-requirements", dev)
    assert result.returncode == 2
    assert f"{dev.resolve()}:3: invalid requirement" in result.stderr


def test_cli_reads_the_projects_own_requirement_files_by_default() -> None:
    result = _cli("--format", "json")
    assert result.returncode in (0, 1), result.stderr
    names = {item["name"] for item in json.loads(result.stdout)["packages"]}
    # PyYAML is a dev requirement, but uvicorn[standard] (runtime) pulls it in
    assert "pyyaml" not in names
    assert not names & {"fastapi", "sqlalchemy", "uvicorn", "starlette", "pydantic"}
