"""Database settings: the SQLAlchemy URL, optional credentials and the read-only fallback."""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.base import Section, resolve_backend_path

DEFAULT_DATABASE_URL = "sqlite:///backend/quantum_trader.db"


def normalise_database_url(raw: str) -> str:
    """Validate a URL and make relative SQLite paths absolute (resolved from backend/)."""
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ValueError(
            "must be a SQLAlchemy database URL such as sqlite:///path.db or postgresql+psycopg://user@host/db"
        ) from exc
    if url.drivername == "postgresql" or url.drivername == "postgres":
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername.startswith("sqlite"):
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            url = url.set(database=str(resolve_backend_path(database)))
    return url.render_as_string(hide_password=False)


def is_read_only_sqlite_url(raw: str) -> bool:
    """A SQLite URI that itself opens the file read-only (``?mode=ro`` or ``?immutable=1``)."""
    url = make_url(raw)
    if not url.drivername.startswith("sqlite"):
        return False
    query = {key: str(value).lower() for key, value in url.query.items()}
    return query.get("mode") == "ro" or query.get("immutable") in ("1", "true")


class DatabaseSettings(Section):
    url: str = Field(
        DEFAULT_DATABASE_URL,
        alias="DATABASE_URL",
        description="SQLAlchemy URL; SQLite paths resolve from backend/, postgresql:// uses psycopg 3.",
    )
    user: str | None = Field(None, alias="DB_USER", description="Database user, used when DATABASE_URL names none.")
    password: SecretStr | None = Field(
        None, alias="DB_PASS", description="Database password, used when DATABASE_URL names none."
    )
    read_only: bool = Field(
        False,
        alias="QT_DATABASE_READ_ONLY",
        description="Serve reads from a snapshot: writing jobs paused, mutations answer 503.",
    )
    auto_migrate: bool = Field(
        False,
        alias="QT_AUTO_MIGRATE",
        description="Migrate the database to head at start-up; without it an unmigrated database refuses to start.",
    )
    busy_timeout_ms: int = Field(
        5000,
        alias="QT_DB_BUSY_TIMEOUT_MS",
        ge=0,
        le=600_000,
        description="SQLite busy timeout in milliseconds.",
    )

    @field_validator("url", mode="after")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("read_only", mode="after")
    @classmethod
    def _read_only_url(cls, value: bool, info: ValidationInfo) -> bool:
        # a SQLite URL opened read-only (sqlite:///file:snap.db?mode=ro&uri=true) means read-only mode:
        # otherwise the service would start "writable" and fail on its first write
        url = info.data.get("url")
        return value or (isinstance(url, str) and is_read_only_sqlite_url(url))

    @property
    def effective_url(self) -> str:
        """The URL with DB_USER/DB_PASS filled in where the URL itself names no user."""
        url = make_url(self.url)
        if url.drivername.startswith("sqlite"):
            return self.url
        if self.user and not url.username:
            url = url.set(username=self.user)
        if self.password is not None and not url.password:
            url = url.set(password=self.password.get_secret_value())
        return url.render_as_string(hide_password=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")
