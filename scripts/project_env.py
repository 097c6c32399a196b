"""Run the project's scripts in the project's environment, whatever `python3` a fresh shell finds.

A runbook command such as ``./database/init_db.py --check`` or ``python3 backend/scripts/...``
typed in a new shell runs the system interpreter, which has none of the requirements. When the
running interpreter is not a virtual environment and the repository's ``.venv`` exists, ``enter``
re-executes the script with ``.venv/bin/python``; inside any virtual environment (``.venv``,
``.venv-dev``, a test's) it does nothing. Standard library only: it runs before anything else.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO_ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
HINT = "run `make install` (it creates .venv), then `. .venv/bin/activate`, or use `make run`"


def in_virtualenv() -> bool:
    return sys.prefix != sys.base_prefix


def enter(script: str, *, needs_requirements: bool = True) -> None:
    """Re-execute ``script`` with .venv's interpreter when run by one outside any virtual environment.

    Without a .venv, a script that ``needs_requirements`` stops with one line saying how to make it;
    one that does not (the dev-dependency check, which reads only metadata) runs where it is.
    """
    if in_virtualenv():
        return
    if VENV_PYTHON.exists():
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), script, *sys.argv[1:]])  # noqa: S606 - our own interpreter
    if needs_requirements:
        print(f"{Path(script).name} needs the project's environment (.venv is missing): {HINT}", file=sys.stderr)
        sys.exit(2)
