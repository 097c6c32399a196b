"""`python -m backend [--check]`: validate the configuration (one line per problem), then serve.

Start-up checks the configuration, that the port is free, the replay files, and that the database
is at the migrations' head (or QT_AUTO_MIGRATE=1 will migrate it). With --check it only validates,
also opens both databases (DATABASE_URL and QT_RISK_STATE_DB), and exits: 0 when the service could
start, 2 when not. Database URLs are printed without their password.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url

from backend.http_protocol import protocol_class
from backend.preflight import preflight
from config.redaction import redact_text
from config.settings import ConfigError, Settings, load_settings
from database.session import make_engine


def open_problems(settings: Settings) -> list[str]:
    """One line per database the service could not open (SELECT 1), passwords redacted."""
    problems = []
    databases = {"DATABASE_URL": settings.database.effective_url, "QT_RISK_STATE_DB": settings.risk.state_db_url}
    for name, url in databases.items():
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
            # the service creates these files (alembic, the risk store); their directory must be usable
            directory = Path(parsed.database.removeprefix("file:").split("?")[0]).parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                problems.append(f"{name}: cannot create the directory {directory}: {exc.strerror or exc}")
                continue
        engine = None
        try:
            engine = make_engine(url, read_only=settings.database.read_only and name == "DATABASE_URL")
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
            shown = parsed.render_as_string(hide_password=True)
            problems.append(redact_text(f"{name}: cannot open {shown}: {type(exc).__name__}: {first}"))
        finally:
            if engine is not None:
                engine.dispose()
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {redact_text(problem)}", file=sys.stderr)
        return 2
    from backend.notify.channels import build_channels  # apprise is imported only when a channel needs it

    try:
        build_channels(settings.notify)
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    problems = preflight(settings)
    for problem in problems:
        print(f"start-up refused: {problem}", file=sys.stderr)
    if problems:
        return 2
    if "--check" in args:
        problems = open_problems(settings)
        for problem in problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        if not problems:
            print("configuration ok")
        return 2 if problems else 0
    app = settings.app
    uvicorn.run(
        "backend.main:create_app",
        factory=True,
        host=app.host,
        port=app.port,
        log_level=app.log_level.value.lower(),
        timeout_graceful_shutdown=10,
        # the client address (audited) comes from X-Forwarded-For only behind these proxies
        proxy_headers=bool(app.forwarded_allow_ips),
        forwarded_allow_ips=",".join(app.forwarded_allow_ips) or None,
        limit_concurrency=app.limit_concurrency,
        backlog=app.backlog,
        server_header=False,
        timeout_keep_alive=5,
        # a request head not complete within QT_HEADER_READ_TIMEOUT_SECONDS gets 408 and is closed
        http=protocol_class(app.header_read_timeout_seconds),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
