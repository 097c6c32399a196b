"""Setting values: finite and bounded floats, bounded lists, strong tokens, no stored override that no
longer validates applied at start-up, database URLs without their password (issue 13, items 2, 5,
9, 13 and 16)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from backend.tests.process import free_port
from backend.tests.security.helpers import JSON_HEADERS, raw
from config.base import REPO_ROOT
from config.settings import SECTIONS, ConfigError, field_refs, load_settings
from database.session import make_engine

HEADERS = {**ADMIN_HEADERS, **JSON_HEADERS}


def _float_settings() -> list[str]:
    return [
        env
        for env, ref in field_refs().items()
        if "float" in repr(SECTIONS[ref.section].model_fields[ref.field].annotation)
    ]


def test_every_numeric_setting_is_bounded_above() -> None:
    import annotated_types

    unbounded = []
    for env, ref in field_refs().items():
        info = SECTIONS[ref.section].model_fields[ref.field]
        kind = repr(info.annotation)
        if ("float" in kind or "int" in kind) and not any(
            isinstance(m, annotated_types.Le | annotated_types.Lt) for m in info.metadata
        ):
            unbounded.append(env)
    assert unbounded == []


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "1e309"])
def test_put_settings_refuses_non_finite_floats(client: TestClient, value: str) -> None:
    tunable = [env for env in _float_settings() if field_refs()[env].tunable]
    assert "QT_LIQUIDITY_LIQ_WEIGHT" in tunable
    assert "QT_MODEL_MAX_AGE_HOURS" in tunable
    before = client.get("/settings", headers=ADMIN_HEADERS).json()
    for name in tunable:
        response = client.put("/settings", headers=HEADERS, content=raw(f'{{"{name}":{value}}}'))
        assert response.status_code == 422, (name, response.text)
        response = client.put("/settings", headers=HEADERS, json={name: value})
        assert response.status_code == 422, (name, response.text)
    assert client.get("/settings", headers=ADMIN_HEADERS).json() == before


@pytest.mark.parametrize("name", ["QT_LIQUIDITY_LIQ_WEIGHT", "QT_LIQUIDITY_MODEL_WEIGHT", "QT_MODEL_MAX_AGE_HOURS"])
def test_the_environment_refuses_infinite_and_huge_floats(name: str) -> None:
    for value in ("inf", "nan", "1e308"):
        section = field_refs()[name].section
        with pytest.raises(ConfigError, match=name):
            load_settings({section: {name: value}, "app": {"QT_ADMIN_TOKEN": "t"}}, env_file=False)


def test_a_stored_override_that_no_longer_validates_is_refused_at_start_up(
    client_for: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(settings.database.effective_url)
    with engine.begin() as conn:
        for name, value in (("QT_LIQUIDITY_LIQ_WEIGHT", "Infinity"), ("QT_EXECUTION_MAX_ORDERS", 7)):
            conn.execute(
                text(
                    "INSERT INTO runtime_settings (name, value, updated_at, updated_by) "
                    "VALUES (:n, :v, CURRENT_TIMESTAMP, 'old-version')"
                ),
                {"n": name, "v": json.dumps(value)},
            )
    engine.dispose()
    with caplog.at_level(logging.ERROR):
        client = client_for(settings)
    items = {i["name"]: i for i in client.get("/settings", headers=ADMIN_HEADERS).json()["settings"]}
    assert items["QT_LIQUIDITY_LIQ_WEIGHT"]["value"] == 0.6
    assert items["QT_LIQUIDITY_LIQ_WEIGHT"]["source"] != "override"
    assert items["QT_EXECUTION_MAX_ORDERS"]["value"] == 7  # the valid one still applies
    refused = [r.getMessage() for r in caplog.records if "refused at start-up" in r.getMessage()]
    assert len(refused) == 1
    assert "QT_LIQUIDITY_LIQ_WEIGHT" in refused[0]
    assert "\n" not in refused[0]


def test_put_settings_refuses_more_symbols_than_qt_max_symbols(client: TestClient) -> None:
    symbols = ",".join(f"S{n:05d}USDT" for n in range(20_000))
    response = client.put("/settings", headers=HEADERS, json={"QUANTUM_TRADER_SYMBOLS": symbols})
    assert response.status_code == 422
    assert "QT_MAX_SYMBOLS" in response.text or "at most" in response.text
    assert len(client.get("/health/scheduler").content) < 100_000
    response = client.put(
        "/settings", headers=HEADERS, json={"QUANTUM_TRADER_SYMBOLS": ",".join(f"S{n:03d}USDT" for n in range(201))}
    )
    assert response.status_code == 422
    assert "QT_MAX_SYMBOLS=200" in response.text


def test_qt_max_symbols_bounds_every_list_setting() -> None:
    with pytest.raises(ConfigError, match="QT_LIQUIDITY_WHITELIST has 3 entries: at most QT_MAX_SYMBOLS=2"):
        load_settings(
            {"app": {"QT_ADMIN_TOKEN": "t", "QT_MAX_SYMBOLS": 2}, "liquidity": {"QT_LIQUIDITY_WHITELIST": "AA,BB,CC"}},
            env_file=False,
        )


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        (" " * 32, "whitespace"),
        ("\t" * 32, "whitespace"),
        ("a" * 32, "one repeated character"),
        ("ab" * 20, "estimated entropy"),
        ("abc" * 11, "estimated entropy"),
        ("0123" * 8, "estimated entropy"),
        ("x" * 31 + " ", "whitespace"),
    ],
)
def test_production_refuses_weak_tokens_with_one_line(token: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"app": {"QT_ENV": "production", "QT_ADMIN_TOKEN": token}}, env_file=False)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("QT_ADMIN_TOKEN")
    assert fragment in caught.value.problems[0]
    assert token.strip() == "" or token not in caught.value.problems[0]


def test_production_accepts_a_generated_token() -> None:
    import secrets

    for _ in range(50):
        for token in (secrets.token_urlsafe(32), secrets.token_hex(16), secrets.token_hex(20)):
            load_settings({"app": {"QT_ENV": "production", "QT_ADMIN_TOKEN": token}}, env_file=False)


PG_URL = "postgresql://trader:s3cr3t-pw@127.0.0.1:1/qt"


def test_get_settings_redacts_database_passwords(client_for: Any, make_settings: SettingsFactory) -> None:
    settings = make_settings(
        database={"DATABASE_URL": PG_URL.replace("qt", "other")}, risk={"QT_RISK_STATE_DB": PG_URL}
    )
    client = client_for(settings)
    body = client.get("/settings", headers=ADMIN_HEADERS).text
    assert "s3cr3t-pw" not in body
    items = {i["name"]: i for i in client.get("/settings", headers=ADMIN_HEADERS).json()["settings"]}
    assert items["QT_RISK_STATE_DB"]["value"] == "postgresql+psycopg://trader:***@127.0.0.1:1/qt"
    assert items["DATABASE_URL"]["value"] == "postgresql+psycopg://trader:***@127.0.0.1:1/other"
    assert "s3cr3t-pw" not in client.get("/health").text


def test_the_risk_state_url_is_normalised_like_database_url() -> None:
    settings = load_settings({"app": {"QT_ADMIN_TOKEN": "t"}, "risk": {"QT_RISK_STATE_DB": PG_URL}}, env_file=False)
    assert settings.risk.state_db_url.startswith("postgresql+psycopg://")
    assert settings.database.url.startswith("sqlite")


def _check(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "DATABASE_URL", "DB_"))}
    base.update(
        {
            "QT_ADMIN_TOKEN": "check-token",
            "QT_ADMIN_AUDIT_PATH": str(tmp_path / "audit.log"),
            "QT_RISK_STATE_DB": str(tmp_path / "risk.db"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'qt.db'}",
            "QT_AUTO_MIGRATE": "1",
            "QT_PORT": str(free_port()),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "backend", "--check"],
        cwd=REPO_ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_never_prints_a_password(tmp_path: Path) -> None:
    for env in (
        {"DATABASE_URL": "postgresql://trader:s3cr3t-pw@127.0.0.1:1/qt"},
        {"DATABASE_URL": "notadb://trader:s3cr3t-pw@[::1"},
        {"QT_RISK_STATE_DB": "postgresql://trader:s3cr3t-pw@127.0.0.1:1/qt"},
        {"QT_RISK_STATE_DB": "bad+driver://trader:s3cr3t-pw@host/x"},
    ):
        result = _check(env, tmp_path)
        assert result.returncode == 2, (env, result.stderr)
        assert "s3cr3t-pw" not in result.stderr + result.stdout, result.stderr
        assert "configuration error:" in result.stderr or "start-up refused:" in result.stderr


def test_check_opens_both_databases(tmp_path: Path) -> None:
    assert _check({}, tmp_path).returncode == 0
    result = _check({"QT_RISK_STATE_DB": "postgresql://trader:pw@127.0.0.1:1/qt"}, tmp_path)
    assert result.returncode == 2
    assert "QT_RISK_STATE_DB: cannot open postgresql+psycopg://trader:***@127.0.0.1:1/qt" in result.stderr
    assert "psycopg2" not in result.stderr


@pytest.mark.parametrize(
    "app",
    [
        {"QT_ENV": "staging", "QT_ADMIN_TOKEN": ""},
        {"QT_ENV": "production", "QT_ADMIN_TOKEN": ""},
        {"QT_HOST": "0.0.0.0", "QT_ADMIN_TOKEN": ""},  # noqa: S104 - the refused bind address
        {"QT_ADMIN_TOKEN": "Zq7-xWm2_Lp9vRt4Kc8Nh1Bd6Fg3Js5Ya0"},
    ],
    ids=["staging", "production", "all-interfaces", "with-a-token"],
)
def test_the_guard_is_disabled_only_in_development_on_loopback_without_a_token(app: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"app": {**app, "QT_ADMIN_AUTH_DISABLED": "1"}}, env_file=False)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("QT_ADMIN_AUTH_DISABLED=1 is accepted only with QT_ENV=development")
    assert "Zq7-xWm2" not in caught.value.problems[0]
    opened = load_settings({"app": {"QT_ADMIN_TOKEN": "", "QT_ADMIN_AUTH_DISABLED": "1"}}, env_file=False)
    assert opened.app.admin_auth_enabled is False


def test_log_lines_of_both_formats_and_audit_lines_never_carry_a_database_password(tmp_path: Path) -> None:
    from backend.observability.audit import AuditLog
    from backend.observability.logging import JsonFormatter, KeyValueFormatter

    record = logging.LogRecord("qt", logging.ERROR, __file__, 1, "cannot open %s", (PG_URL,), None)
    record.error = f"connection to {PG_URL.replace('postgresql', 'postgresql+psycopg')} failed"
    for formatter in (KeyValueFormatter(), JsonFormatter()):
        line = formatter.format(record)
        assert "s3cr3t-pw" not in line, line
        assert "trader:***@127.0.0.1" in line, line
    audit = AuditLog(tmp_path / "audit.log")
    audit.write("PUT /settings", "ok", client="c", before={"DATABASE_URL": PG_URL}, after={"note": f"was {PG_URL}"})
    text = (tmp_path / "audit.log").read_text()
    assert "s3cr3t-pw" not in text
    assert "trader:***@127.0.0.1" in text
