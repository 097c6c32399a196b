"""The generated references (configuration.md, .env.example, metrics.md, admin routes) match the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from backend.api.routes import iter_api_routes
from backend.api.security import require_admin
from config.settings import SECTIONS, field_refs
from scripts import gen_reference
from scripts.gen_reference import ADMIN_MD, CONFIGURATION_MD, ENV_EXAMPLE, METRICS_MD, generated_files, metric_docs


@pytest.fixture(scope="module")
def generated() -> dict[Path, str]:
    return generated_files()


@pytest.mark.parametrize("path", [CONFIGURATION_MD, ENV_EXAMPLE, METRICS_MD, ADMIN_MD], ids=lambda p: p.name)
def test_committed_file_equals_the_generated_output(generated: dict[Path, str], path: Path) -> None:
    assert path.is_file(), f"{path} is missing: run python -m scripts.gen_reference"
    assert path.read_text(encoding="utf-8") == generated[path], (
        f"{path.name} is out of date: run `python -m scripts.gen_reference` and commit the result"
    )


def test_check_mode_reports_nothing_stale_for_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert gen_reference.main(["--check"]) == 0
    assert capsys.readouterr().out == ""


def test_every_setting_is_documented_with_its_default() -> None:
    text = CONFIGURATION_MD.read_text(encoding="utf-8")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([A-Z0-9_]+)` \|.*$", text, flags=re.M)}
    assert set(rows) == set(field_refs())
    assert "`180`" in rows["QUANTUM_TRADER_REFRESH_SECONDS"]
    assert "`BTCUSDT,ETHUSDT`" in rows["QUANTUM_TRADER_SYMBOLS"]
    assert "`sqlite:///backend/quantum_trader.db`" in rows["DATABASE_URL"]
    for name in SECTIONS:
        assert f"## {name} (" in text


def test_env_example_lists_every_variable_once() -> None:
    names = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(encoding="utf-8"), flags=re.M)
    assert sorted(names) == sorted(field_refs())


def test_env_example_as_backend_env_gives_the_default_settings() -> None:
    """Copying .env.example to backend/.env must start the service with exactly the defaults (local SQLite)."""
    for name, section in SECTIONS.items():
        from_example = section(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
        defaults = section(_env_file=None)  # type: ignore[call-arg]
        assert from_example == defaults, name
    assert SECTIONS["database"](_env_file=ENV_EXAMPLE).url.startswith("sqlite:///")  # type: ignore[call-arg,attr-defined]
    assert set(dotenv_values(ENV_EXAMPLE)) == set(field_refs())


def test_metrics_doc_lists_every_registered_metric() -> None:
    text = METRICS_MD.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.M))
    assert documented == {doc.name for doc in metric_docs()}
    for required in ("model_inference_duration_seconds", "http_requests", "scheduler_job_runs", "risk_decisions"):
        assert required in documented


def test_admin_doc_table_is_exactly_the_apps_admin_routes() -> None:
    app = gen_reference.build_app()
    expected = set()
    for route in iter_api_routes(app.routes):
        if _uses(route.dependant, require_admin):
            expected |= {(method, route.path) for method in route.methods}
    text = ADMIN_MD.read_text(encoding="utf-8")
    block = text[text.index(gen_reference.BEGIN_ROUTES) : text.index(gen_reference.END_ROUTES)]
    listed = set(re.findall(r"^\| `([A-Z]+)` \| `([^`]+)` \|", block, flags=re.M))
    assert listed == expected
    assert ("PUT", "/settings") in listed


def _uses(dependant: Any, call: Any) -> bool:
    return any(dep.call is call or _uses(dep, call) for dep in dependant.dependencies)


def test_check_mode_names_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "metrics.md"
    stale.write_text("old\n")
    monkeypatch.setattr(gen_reference, "generated_files", lambda: {stale: "new\n"})
    monkeypatch.setattr(gen_reference, "REPO_ROOT", tmp_path)
    assert gen_reference.main(["--check"]) == 1
    assert stale.read_text() == "old\n"
    assert gen_reference.main([]) == 0
    assert stale.read_text() == "new\n"
