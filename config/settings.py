"""The settings root: every section, loaded once from the environment, refusing unsafe combinations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from config.app import MIN_ADMIN_TOKEN_LENGTH, AppSettings, Environment
from config.base import Section
from config.database import DatabaseSettings
from config.execution import ExchangeKind, ExecutionSettings
from config.liquidity import LiquiditySettings
from config.market import MarketSettings
from config.model import ModelSettings
from config.notify import NotifySettings
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
        lines.append(f"{where}={value}: {message}")
    return lines


def _secret_envs() -> set[str]:
    return {ref.env for ref in field_refs().values() if ref.secret}


def check_combinations(settings: Settings) -> list[str]:
    """Refuse combinations that are each valid alone but unsafe together."""
    problems: list[str] = []
    app = settings.app
    token = app.admin_token.get_secret_value()
    if app.env is not Environment.DEVELOPMENT:
        if not token:
            problems.append(f"QT_ADMIN_TOKEN is empty: required when QT_ENV={app.env.value}")
        elif len(token) < MIN_ADMIN_TOKEN_LENGTH:
            problems.append(
                f"QT_ADMIN_TOKEN is {len(token)} characters: at least {MIN_ADMIN_TOKEN_LENGTH} "
                f"are required when QT_ENV={app.env.value}"
            )
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


def load_settings(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    env_file: bool = True,
) -> Settings:
    """Build Settings from the environment (and backend/.env), raising ConfigError on any problem.

    ``overrides`` maps a section name to field values that win over the environment (tests use it);
    ``env_file=False`` ignores backend/.env.
    """
    problems: list[str] = []
    built: dict[str, Section] = {}
    secrets = _secret_envs()
    for name, section in SECTIONS.items():
        values = dict((overrides or {}).get(name, {}))
        try:
            if env_file:
                built[name] = section(**values)
            else:
                built[name] = section(_env_file=None, **values)
        except ValidationError as exc:
            problems.extend(format_validation_error(exc, secret_names=secrets))
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
