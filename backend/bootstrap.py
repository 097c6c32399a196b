"""First-start preparation for `make run`: things the service needs that a fresh clone lacks.

Each later part adds its step here (the AI engine trains a default model when none is active).
"""

from __future__ import annotations

import sys

from ai_engine.default_model import ensure_default_model
from config.settings import ConfigError, load_settings


def main() -> int:
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
