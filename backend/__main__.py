"""`python -m backend [--check]`: validate the configuration (one line per problem), then serve.

With --check it only validates and exits: 0 when the configuration is usable, 2 when not.
"""

from __future__ import annotations

import sys

import uvicorn

from config.settings import ConfigError, load_settings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    from backend.notify.channels import build_channels  # apprise is imported only when a channel needs it

    try:
        build_channels(settings.notify)
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if "--check" in args:
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
