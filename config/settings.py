"""The settings root: every section, loaded once from the environment, refusing unsafe combinations."""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from dotenv.parser import parse_stream
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError

from config.app import LOOPBACK_HOSTS, MIN_ADMIN_TOKEN_LENGTH, AppSettings, Environment
from config.base import ENV_FILE, REPO_ROOT, Section
from config.database import DatabaseSettings
from config.execution import ExchangeKind, ExecutionSettings
from config.liquidity import LiquiditySettings
from config.market import MarketSettings
from config.model import ModelSettings
from config.notify import NotifySettings
from config.redaction import redact_text
from config.risk import RiskSettings
from config.scheduler import SchedulerSettings

SECTIONS: dict[str, type[Section]] = {
    "app": AppSettings,
    "database": DatabaseSettings,
    "scheduler": SchedulerSettings,
    "market": MarketSettings,
    "risk": RiskSettings,
    "liquidity": LiquiditySettings,
    "execution": ExecutionSettings,
    "model": ModelSettings,
    "notify": NotifySettings,
}


class ConfigError(Exception):
    """The configuration cannot be used; the service must not start. One line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class Settings(BaseModel):
    """Typed, frozen configuration of the whole service."""

    model_config = ConfigDict(frozen=True)

    app: AppSettings
    database: DatabaseSettings
    scheduler: SchedulerSettings
    market: MarketSettings
    risk: RiskSettings
    liquidity: LiquiditySettings
    execution: ExecutionSettings
    model: ModelSettings
    notify: NotifySettings

    @property
    def liquidity_quote_assets(self) -> list[str]:
        return self.liquidity.quote_assets or [self.execution.quote_asset]


class FieldRef(BaseModel):
    """Where one environment variable lives in the settings tree."""

    model_config = ConfigDict(frozen=True)

    env: str
    section: str
    field: str
    tunable: bool
    secret: bool
    description: str


def _is_secret(info: FieldInfo) -> bool:
    return "SecretStr" in repr(info.annotation)


def field_refs() -> dict[str, FieldRef]:
    """Every setting by its environment variable name."""
    refs: dict[str, FieldRef] = {}
    for section_name, section in SECTIONS.items():
        for name, info in section.model_fields.items():
            env = info.alias or name
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            refs[env] = FieldRef(
                env=env,
                section=section_name,
                field=name,
                tunable=bool(extra.get("tunable")),
                secret=_is_secret(info),
                description=info.description or "",
            )
    return refs


def _display(value: Any) -> str:
    # repr() escapes what a terminal, a log line or a UTF-8 answer cannot carry (lone surrogates)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


def format_validation_error(error: ValidationError, *, secret_names: set[str] | None = None) -> list[str]:
    """One line per problem: variable, offending value and what is accepted."""
    lines = []
    secret_names = secret_names or set()
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item.get("loc", ())]
        message = item.get("msg", "invalid value").removeprefix("Value error, ")
        if not loc:
            lines.append(message)
            continue
        name = loc[0]
        value = "<redacted>" if name in secret_names else _display(item.get("input"))
        where = ".".join(loc)
        lines.append(redact_text(f"{where}={value}: {message}"))
    return lines


def _secret_envs() -> set[str]:
    return {ref.env for ref in field_refs().values() if ref.secret}


def check_combinations(settings: Settings) -> list[str]:
    """Refuse combinations that are each valid alone but unsafe together."""
    problems: list[str] = []
    app = settings.app
    problems += _admin_auth_problems(app)
    if app.env is not Environment.DEVELOPMENT:
        wildcard = [origin for origin in app.cors_origins if origin in ("*", "null")]
        if wildcard:
            problems.append(
                f"QT_CORS_ORIGINS contains {', '.join(wildcard)}: name each origin when QT_ENV={app.env.value}"
            )
    problems += _list_bound_problems(settings)
    execution = settings.execution
    if execution.exchange is ExchangeKind.BINANCE:
        if execution.binance_api_key is None or execution.binance_api_secret is None:
            problems.append(
                "QT_BINANCE_API_KEY and QT_BINANCE_API_SECRET are required when QT_EXECUTION_EXCHANGE=binance"
            )
        if not execution.binance_testnet and app.env is not Environment.DEVELOPMENT and not execution.live_confirm:
            problems.append(
                "QT_EXECUTION_LIVE_CONFIRM=1 is required for live Binance trading "
                f"(QT_EXECUTION_BINANCE_TESTNET=0) when QT_ENV={app.env.value}"
            )
    return problems


def _shown_path(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def env_file_problems(path: Path) -> list[str]:
    """One line per line of ``path`` that python-dotenv cannot read as NAME=value."""
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{_shown_path(path)}: cannot be read ({exc})"]
    problems = []
    for binding in parse_stream(io.StringIO(text)):
        bad_key = binding.key is not None and not _ENV_NAME.match(binding.key)
        if binding.error or bad_key:
            line = binding.original.string.strip()
            problems.append(
                f"{_shown_path(path)} line {binding.original.line}: cannot parse {_display(line)}: "
                "expected NAME=value (# starts a comment)"
            )
    return problems


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_FIELD_IN_SETTINGS_ERROR = re.compile(r'field "([^"]+)"')


def _settings_error_line(section: type[Section], exc: SettingsError, env_file: Path | None) -> str:
    """pydantic-settings' 'error parsing value for field ...' as one line naming the variable."""
    match = _FIELD_IN_SETTINGS_ERROR.search(str(exc))
    info = section.model_fields.get(match.group(1)) if match else None
    if match is None or info is None:
        return str(exc).splitlines()[0]
    env = info.alias or match.group(1)
    raw = os.environ.get(env)
    if raw is None and env_file is not None and env_file.is_file():
        raw = dotenv_values(env_file).get(env)
    reason = "not valid JSON"
    if raw is not None:
        try:
            json.loads(raw)
        except ValueError as error:
            reason = f"not valid JSON ({error})"
    return f"{env}={_display(raw)}: {reason}; accepted: {info.description or 'a JSON value'}"


# A token must carry at least this much estimated entropy (length x Shannon entropy per character)
# outside development: 32 random hex digits score 100-120 bits, "abcabc..." 51, "abab..." 32.
MIN_TOKEN_ENTROPY_BITS = 80


def estimated_entropy_bits(token: str) -> float:
    """Length times the Shannon entropy of the token's own character frequencies (a low estimate)."""
    counts = Counter(token)
    return -len(token) * sum((n / len(token)) * math.log2(n / len(token)) for n in counts.values()) if token else 0.0


def _admin_auth_problems(app: AppSettings) -> list[str]:
    token = app.admin_token.get_secret_value()
    if app.admin_auth_disabled:
        if app.env is not Environment.DEVELOPMENT or token or app.host not in LOOPBACK_HOSTS:
            return [
                "QT_ADMIN_AUTH_DISABLED=1 is accepted only with QT_ENV=development, a blank QT_ADMIN_TOKEN and a "
                f"loopback QT_HOST (got QT_ENV={app.env.value}, QT_HOST={app.host}"
                f"{', a token' if token else ''})"
            ]
        return []
    if not token:
        if app.env is Environment.DEVELOPMENT:
            return []  # the admin routes stay closed (401) until a token is set: see require_admin
        return [f"QT_ADMIN_TOKEN is empty: required when QT_ENV={app.env.value}"]
    if token != token.strip() or any(ch.isspace() or not ch.isprintable() for ch in token):
        return ["QT_ADMIN_TOKEN contains whitespace or control characters: use printable characters only"]
    if app.env is Environment.DEVELOPMENT:
        return []
    if len(token) < MIN_ADMIN_TOKEN_LENGTH:
        return [
            f"QT_ADMIN_TOKEN is {len(token)} characters: at least {MIN_ADMIN_TOKEN_LENGTH} "
            f"are required when QT_ENV={app.env.value}"
        ]
    if len(set(token)) == 1:
        return [f"QT_ADMIN_TOKEN is one repeated character: not a secret (QT_ENV={app.env.value})"]
    bits = estimated_entropy_bits(token)
    if bits < MIN_TOKEN_ENTROPY_BITS:
        return [
            f"QT_ADMIN_TOKEN has about {bits:.0f} bits of estimated entropy: at least {MIN_TOKEN_ENTROPY_BITS} are "
            f'required when QT_ENV={app.env.value} (python -c "import secrets; print(secrets.token_urlsafe(32))")'
        ]
    return []


def _list_bound_problems(settings: Settings) -> list[str]:
    """Every list (or mapping) setting holds at most QT_MAX_SYMBOLS entries."""
    limit = settings.app.max_symbols
    problems = []
    for env, ref in field_refs().items():
        value = getattr(getattr(settings, ref.section), ref.field)
        if isinstance(value, list | dict | set | tuple) and len(value) > limit:
            problems.append(f"{env} has {len(value)} entries: at most QT_MAX_SYMBOLS={limit}")
    return problems


def load_settings(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    env_file: bool | Path = True,
) -> Settings:
    """Build Settings from the environment (and backend/.env), raising ConfigError on any problem.

    ``overrides`` maps a section name to field values that win over the environment (tests use it);
    ``env_file=False`` ignores backend/.env, a path reads that file instead.
    """
    path = ENV_FILE if env_file is True else env_file if isinstance(env_file, Path) else None
    problems: list[str] = env_file_problems(path) if path is not None else []
    if problems:
        raise ConfigError(problems)
    built: dict[str, Section] = {}
    secrets = _secret_envs()
    for name, section in SECTIONS.items():
        values = dict((overrides or {}).get(name, {}))
        try:
            built[name] = section(_env_file=path, **values)
        except ValidationError as exc:
            problems.extend(format_validation_error(exc, secret_names=secrets))
        except SettingsError as exc:
            problems.append(_settings_error_line(section, exc, path))
    if problems:
        raise ConfigError(problems)
    settings = Settings(**built)
    problems = check_combinations(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def get_settings() -> Settings:
    """Settings as the environment defines them now (no caching: callers keep what they build)."""
    return load_settings()
