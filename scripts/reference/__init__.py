"""The parts of the reference generator (scripts/gen_reference.py): settings, metrics and admin routes.

Each part reads the code and renders its reference; ``gen_reference`` writes or checks the files.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
GENERATOR = "python -m scripts.gen_reference"


def cell(text: str) -> str:
    """Text made safe for one cell of a Markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")
