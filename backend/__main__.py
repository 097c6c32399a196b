"""`python -m backend [--check]`: validate the configuration (one line per problem), then serve.

Start-up checks the configuration, that the port is free and that the database is at the
migrations' head (or QT_AUTO_MIGRATE=1 will migrate it). With --check it only validates and
exits: 0 when the service could start, 2 when not.
"""

from __future__ import annotations

import sys

import uvicorn

from backend.preflight import preflight
from config.settings import ConfigError, load_settings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    problems = preflight(settings)
    for problem in problems:
        print(f"start-up refused: {problem}", file=sys.stderr)
    if problems:
        return 2
    if "--check" in args:
        print("configuration ok", file=sys.stderr)
        return 0
    uvicorn.run(
        "backend.main:create_app",
        factory=True,
        host=settings.app.host,
        port=settings.app.port,
        log_level=settings.app.log_level.value.lower(),
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
