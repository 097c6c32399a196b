"""First-start preparation for `make run`: things the service needs that a fresh clone lacks.

``--admin-token`` (run first by `make run`): when no QT_ADMIN_TOKEN is set in the environment or in
backend/.env, generate a random one into backend/.env (mode 0600) and say once how to use it, so
no default install serves its admin routes open. Without arguments: that, then a default model
when none is active.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from config.base import ENV_FILE

TOKEN_NAME = "QT_ADMIN_TOKEN"  # noqa: S105 - the variable name, not a token
DISABLED_NAME = "QT_ADMIN_AUTH_DISABLED"
_TRUE = {"1", "true", "yes", "on"}


def _file_values(env_file: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not env_file.exists():
        return values
    for line in env_file.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.lstrip().startswith("#"):
            values[name.strip()] = value.strip().strip("'\"")
    return values


def _reachable(host: str) -> str:
    """The address a curl on this machine reaches QT_HOST at (bound to every address: the loopback one)."""
    try:
        every = ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a name, or nothing
        every = not host
    host = "127.0.0.1" if every else host
    return f"[{host}]" if ":" in host else host


def ensure_admin_token(env_file: Path = ENV_FILE, environ: Mapping[str, str] | None = None) -> str | None:
    """Generate QT_ADMIN_TOKEN into ``env_file`` when none is configured; the message to print, or None."""
    environ = os.environ if environ is None else environ
    in_file = _file_values(env_file)
    if environ.get(TOKEN_NAME) or in_file.get(TOKEN_NAME):
        return None
    if (environ.get(DISABLED_NAME) or in_file.get(DISABLED_NAME, "")).lower() in _TRUE:
        return None
    token = secrets.token_urlsafe(32)
    lines = env_file.read_text(encoding="utf-8").splitlines() if env_file.exists() else []
    lines = [line for line in lines if line.partition("=")[0].strip() != TOKEN_NAME]  # a blank one
    lines.append(f"{TOKEN_NAME}={token}")
    env_file.parent.mkdir(parents=True, exist_ok=True)
    # written to a private temporary file and renamed: the token is never readable by others
    fd, tmp = tempfile.mkstemp(dir=env_file.parent, prefix=".env.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        Path(tmp).chmod(0o600)
        Path(tmp).replace(env_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    shown = env_file.relative_to(Path.cwd()) if env_file.is_relative_to(Path.cwd()) else env_file
    port = environ.get("QT_PORT") or in_file.get("QT_PORT") or "8000"  # where `make run` will listen
    host = _reachable(environ.get("QT_HOST") or in_file.get("QT_HOST") or "")
    return (
        f"generated a random admin token into {shown} (QT_ADMIN_TOKEN, file mode 0600); admin routes need it "
        f"in the X-Admin-Token header, e.g.\n"
        f"  curl -H \"X-Admin-Token: $(sed -n 's/^QT_ADMIN_TOKEN=//p' {shown})\" http://{host}:{port}/risk"
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    message = ensure_admin_token()
    if message:
        print(message, flush=True)
    if "--admin-token" in args:
        return 0
    from ai_engine.default_model import ensure_default_model
    from config.settings import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    print(ensure_default_model(settings), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
