"""A logging filter that replaces every known notification secret with ``***`` before a line is written."""

from __future__ import annotations

import logging
from collections.abc import Iterable

# apprise and httpx log request URLs (a bot token is part of Telegram's); our own loggers log errors
LOGGERS = (
    "apprise",
    "httpx",
    "httpcore",
    "backend.notify.sender",
    "backend.notify.notifier",
    "backend.notify.telegram",
    "backend.notify.service",
)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        for key, value in list(vars(record).items()):
            if isinstance(value, str) and key not in ("msg", "name", "levelname", "pathname", "filename", "module"):
                scrubbed = self.scrub(value)
                if scrubbed != value:
                    setattr(record, key, scrubbed)
        return True


def install(secrets: Iterable[str]) -> RedactSecrets:
    """Attach one filter to the loggers that may see a secret; `uninstall` removes it."""
    flt = RedactSecrets(secrets)
    for name in LOGGERS:
        logging.getLogger(name).addFilter(flt)
    return flt


def uninstall(flt: RedactSecrets) -> None:
    for name in LOGGERS:
        logging.getLogger(name).removeFilter(flt)
