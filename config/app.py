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
        description="Shared secret for X-Admin-Token; blank disables the guard (development only).",
    )
    admin_audit_path: Path = Field(
        Path("backend/data/admin_audit.log"),
        alias="QT_ADMIN_AUDIT_PATH",
        description="JSON-lines audit log of admin actions (relative to backend/).",
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
        return bool(self.admin_token.get_secret_value())
