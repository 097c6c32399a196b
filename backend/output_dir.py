"""An output folder a command line takes (--out, --output-dir): created and probed for writing first.

A folder that cannot be written fails before the work, as a usage error, not after it with a traceback.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def writable_dir(text: str) -> Path:
    """The folder ``text`` names, created now and probed (an argparse ``type=``)."""
    path = Path(text).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    return path
