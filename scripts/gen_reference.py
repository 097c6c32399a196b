"""Generate the reference files from the code, so they cannot drift from it.

    python -m scripts.gen_reference            rewrite the files
    python -m scripts.gen_reference --check    exit 1 (and name them) when a file is out of date

Generated:
- docs/configuration.md   every setting of config.settings.SECTIONS: default, accepted values, meaning
- backend/.env.example    every setting with its default and a one-line comment (local SQLite)
- docs/metrics.md         every metric of backend.observability.metrics.Metrics: type, labels, series
- docs/admin_token_usage.md, the block between its GENERATED markers: the admin routes of the app

Run it after adding a setting, a metric or a route; the tests fail until the files are regenerated.
The parts that render each reference are in scripts/reference/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.reference import GENERATOR, REPO_ROOT
from scripts.reference.metrics import exposed_series, metric_docs, metrics_md
from scripts.reference.routes import ADMIN_MD, BEGIN_ROUTES, END_ROUTES, admin_md, build_app
from scripts.reference.settings import configuration_md, env_example

CONFIGURATION_MD = REPO_ROOT / "docs" / "configuration.md"
METRICS_MD = REPO_ROOT / "docs" / "metrics.md"
ENV_EXAMPLE = REPO_ROOT / "backend" / ".env.example"

# the generated files, the admin markers, the app and the metrics, as the tests read them from here
__all__ = [
    "ADMIN_MD",
    "BEGIN_ROUTES",
    "CONFIGURATION_MD",
    "END_ROUTES",
    "ENV_EXAMPLE",
    "METRICS_MD",
    "build_app",
    "exposed_series",
    "generated_files",
    "main",
    "metric_docs",
]


def generated_files() -> dict[Path, str]:
    files = {
        CONFIGURATION_MD: configuration_md(),
        ENV_EXAMPLE: env_example(),
        METRICS_MD: metrics_md(),
    }
    if ADMIN_MD.is_file():
        files[ADMIN_MD] = admin_md(ADMIN_MD.read_text(encoding="utf-8"))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate configuration/metrics/admin references from the code.")
    parser.add_argument("--check", action="store_true", help="only report files that are out of date (exit 1)")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated_files().items():
        existing = path.read_text(encoding="utf-8") if path.is_file() else None
        if existing == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "out of date" if args.check else "written"
        print(f"{path.relative_to(REPO_ROOT)}: {verb}")
    if args.check and stale:
        print(f"run `{GENERATOR}` and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
