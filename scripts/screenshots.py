"""`make screenshots`: a PNG of every page of the operator page, desktop and narrow, in artifacts/ui/.

The real service on a fresh SQLite database, given some history through the admin endpoints (a
universe, two rebalances, a model run), photographed by Debian's headless Chromium.

    python -m scripts.screenshots [--out artifacts/ui]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.tests.process import REPO_ROOT
from backend.tests.web import harness


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artifacts" / "ui")
    args = parser.parse_args(argv)
    chromium = harness.chromium_path()
    if chromium is None:
        print(harness.MISSING_CHROMIUM, file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with harness.running_service() as server, sync_playwright() as playwright:
        harness.seed(server, backtest=True)
        browser = harness.launch(playwright, chromium)
        for name in harness.PAGES:
            for suffix, width in (("", 1280), ("-narrow", 390)):
                page = harness.new_page(browser, server.url, width=width, height=900 if width > 400 else 844)
                watch = harness.Watch().attach(page)
                page.goto(f"/ui/{name}")
                harness.wait_loaded(page)
                path = args.out / f"{name}{suffix}.png"
                page.screenshot(path=str(path), full_page=True)
                problems += [f"{name}{suffix}: {p}" for p in watch.problems()]
                print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
                page.context.close()
        browser.close()
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
