"""Process-level settings: environment, bind address, logging, admin token, audit and trade logs."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from config.base import CsvList, Section, resolve_backend_path


class Environment(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


MIN_ADMIN_TOKEN_LENGTH = 32


class AppSettings(Section):
    env: Environment = Field(
        Environment.DEVELOPMENT,
        alias="QT_ENV",
        description="Deployment environment; staging and production refuse unsafe settings.",
    )
    host: str = Field("127.0.0.1", alias="QT_HOST", min_length=1, description="Address the API binds to.")
    port: int = Field(8000, alias="QT_PORT", ge=1, le=65535, description="TCP port the API listens on.")
    log_level: LogLevel = Field(LogLevel.INFO, alias="QT_LOG_LEVEL", description="Log level.")
    log_format: LogFormat = Field(
        LogFormat.TEXT,
        alias="QT_LOG_FORMAT",
        description="Log line format of every line (uvicorn's too): text (key=value) or json.",
    )
    admin_token: SecretStr = Field(
        SecretStr(""),
        alias="QT_ADMIN_TOKEN",
        description="Shared secret for X-Admin-Token (`make run` generates one into backend/.env when none is set).",
    )
    admin_auth_disabled: bool = Field(
        False,
        alias="QT_ADMIN_AUTH_DISABLED",
        description="1: admin routes open without a token (development, blank token, loopback QT_HOST only).",
    )
    allowed_hosts: CsvList = Field(
        default_factory=list,
        alias="QT_ALLOWED_HOSTS",
        description="Host names accepted besides localhost, 127.0.0.1, [::1] and QT_HOST (DNS-rebinding guard).",
    )
    forwarded_allow_ips: CsvList = Field(
        default_factory=list,
        alias="QT_FORWARDED_ALLOW_IPS",
        description="Proxies whose X-Forwarded-For/-Proto are trusted (the client address in the audit); empty: none.",
    )
    limit_concurrency: int = Field(
        200,
        alias="QT_LIMIT_CONCURRENCY",
        ge=1,
        le=100_000,
        description="Connections and tasks served at once; beyond it requests get 503 (uvicorn --limit-concurrency).",
    )
    backlog: int = Field(
        128, alias="QT_BACKLOG", ge=1, le=65_535, description="Pending TCP connections the socket queues."
    )
    header_read_timeout_seconds: float = Field(
        10.0,
        alias="QT_HEADER_READ_TIMEOUT_SECONDS",
        gt=0,
        le=3600,
        description="A connection whose request head (request line and headers) is not complete this long after "
        "it opened or the head began is answered 408 and closed (slow-header clients).",
    )
    max_symbols: int = Field(
        200,
        alias="QT_MAX_SYMBOLS",
        ge=1,
        le=10_000,
        description="Upper bound on every list setting (symbols, whitelists, filters...).",
    )
    admin_audit_path: Path = Field(
        Path("backend/data/admin_audit.log"),
        alias="QT_ADMIN_AUDIT_PATH",
        description="JSON-lines audit log of admin actions (relative to backend/).",
    )
    admin_audit_max_bytes: int = Field(
        10 * 1_048_576,
        alias="QT_ADMIN_AUDIT_MAX_BYTES",
        ge=4096,
        le=1 << 40,
        description="The audit log rotates to <path>.1 when a line would take it past this size.",
    )
    admin_audit_backups: int = Field(
        10,
        alias="QT_ADMIN_AUDIT_BACKUPS",
        ge=1,
        le=1000,
        description="Rotated audit files kept (<path>.1 newest ... <path>.N oldest).",
    )
    trades_log_path: Path = Field(
        Path("backend/logs/trades.log"),
        alias="QT_TRADES_LOG_PATH",
        description="One line per order event (relative to backend/).",
    )
    cors_origins: CsvList = Field(
        default_factory=list,
        alias="QT_CORS_ORIGINS",
        description="Comma-separated origins allowed by CORS; empty keeps CORS closed.",
    )
    max_body_bytes: int = Field(
        1_048_576,
        alias="QT_MAX_BODY_BYTES",
        ge=1024,
        le=64 * 1_048_576,
        description="Request bodies larger than this are refused with 413.",
    )
    health_probe_seconds: float = Field(
        5.0,
        alias="QT_HEALTH_PROBE_SECONDS",
        gt=0,
        le=3600,
        description="How often the background probe checks the database for /health.",
    )

    @field_validator("admin_audit_path", "trades_log_path", mode="after")
    @classmethod
    def _resolve(cls, value: Path) -> Path:
        return resolve_backend_path(value)

    @property
    def admin_auth_enabled(self) -> bool:
        return not self.admin_auth_disabled

    @property
    def effective_allowed_hosts(self) -> list[str]:
        """Host names (without port) accepted in the Host header."""
        hosts = ["localhost", "127.0.0.1", "[::1]", _bracketed(self.host), *self.allowed_hosts]
        return list(dict.fromkeys(host.lower() for host in hosts))


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
