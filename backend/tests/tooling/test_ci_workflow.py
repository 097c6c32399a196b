"""The CI workflow has the spec's steps, in the spec's order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[3] / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return document


@pytest.fixture(scope="module")
def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    result: list[dict[str, Any]] = job["steps"]
    return result


def _index(steps: list[dict[str, Any]], needle: str) -> int:
    for index, step in enumerate(steps):
        if needle in step.get("run", ""):
            return index
    raise AssertionError(f"no step runs {needle!r}")


def test_workflow_runs_on_push_and_pull_request(workflow: dict[Any, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in triggers
    assert "pull_request" in triggers


def test_steps_come_in_the_specified_order(steps: list[dict[str, Any]]) -> None:
    order = [
        "pip install -r backend/requirements.txt",
        "backend/scripts/check_dev_deps_in_runtime.py",
        "python -m venv .venv_linters --system-site-packages",
        ".venv_linters/bin/ruff check",
        ".venv_linters/bin/mypy",
        ".venv_linters/bin/bandit",
        "safety --key",
        "pip install -r backend/requirements-dev.txt",
        "python -m pytest -q",
        "python -m pytest -q -m postgres",
        "alembic -x url=sqlite",
    ]
    indexes = [_index(steps, needle) for needle in order]
    assert indexes == sorted(indexes)


def test_dev_deps_check_only_warns(steps: list[dict[str, Any]]) -> None:
    step = steps[_index(steps, "check_dev_deps_in_runtime.py")]
    assert "::warning" in step["run"]
    assert step["run"].lstrip().startswith("if !")  # a non-zero exit becomes a warning, not a failure


def test_linters_venv_installs_the_spec_tools(steps: list[dict[str, Any]]) -> None:
    run = steps[_index(steps, "python -m venv .venv_linters")]["run"]
    for tool in ("ruff", "mypy", "black", "bandit", "safety"):
        assert tool in run


def test_safety_runs_only_with_a_key_and_warns_otherwise(workflow: dict[Any, Any], steps: list[dict[str, Any]]) -> None:
    (job,) = workflow["jobs"].values()
    assert job["env"]["SAFETY_API_KEY"] == "${{ secrets.SAFETY_API_KEY }}"
    scan = steps[_index(steps, "scan --full-report")]
    assert "SAFETY_API_KEY != ''" in scan["if"]
    skipped = next(step for step in steps if "::warning" in step.get("run", "") and "SAFETY_API_KEY" in step["run"])
    assert "SAFETY_API_KEY == ''" in skipped["if"]


def test_postgres_service_backs_the_postgres_tests(workflow: dict[Any, Any], steps: list[dict[str, Any]]) -> None:
    (job,) = workflow["jobs"].values()
    service = job["services"]["postgres"]
    assert service["image"].startswith("postgres:")
    assert "5432:5432" in service["ports"]
    step = steps[_index(steps, "-m postgres")]
    assert step["env"]["QT_TEST_DATABASE_URL"] == "${{ env.QT_PG_URL }}"
    assert job["env"]["QT_PG_URL"].startswith("postgresql+psycopg://postgres@127.0.0.1:5432/")


def test_alembic_check_runs_on_both_databases(steps: list[dict[str, Any]]) -> None:
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "alembic -x url=sqlite:///$RUNNER_TEMP/ci.db check" in runs
    assert "alembic -x url=$QT_PG_URL check" in runs
