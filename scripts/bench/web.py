"""The operator page's budgets, measured in Debian's headless Chromium against the real service on
loopback: the overview's first paint (and the time until its data shows), and for every page the
bytes transferred (plotly.js, the chart library, excluded and reported apart) and the requests made
by a cold load."""

from __future__ import annotations

import statistics
from typing import Any

from backend.tests.web import harness
from backend.web.routes import PLOTLY_PATH

FIRST_PAINT_TARGET_MS = 300.0
DATA_SHOWN_TARGET_MS = 1000.0
BYTES_TARGET_KB = 100.0
REQUESTS_TARGET = 15
LOADS = 5


def _cold_load(browser: Any, url: str, name: str) -> dict[str, Any]:
    page = harness.new_page(browser, url)
    sizes: list[tuple[str, int]] = []

    def finished(request: Any) -> None:
        s = request.sizes()
        sizes.append((request.url, s["responseBodySize"] + s["responseHeadersSize"]))

    page.on("requestfinished", finished)
    page.goto(f"/ui/{name}")
    harness.wait_loaded(page)
    timing = page.evaluate(
        """() => ({
            paint: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
            data: window.__qtFirstData ?? null,
        })"""
    )
    page.context.close()
    plotly = sum(size for u, size in sizes if u.endswith(PLOTLY_PATH))
    return {
        "requests": len(sizes),
        "bytes": sum(size for u, size in sizes if not u.endswith(PLOTLY_PATH)),
        "plotly": plotly,
        **timing,
    }


def run() -> list[dict[str, Any]]:
    chromium = harness.chromium_path()
    if chromium is None:
        raise RuntimeError(harness.MISSING_CHROMIUM)
    from playwright.sync_api import sync_playwright

    rows: list[dict[str, Any]] = []
    with harness.running_service() as server, sync_playwright() as playwright:
        harness.seed(server, train=False)
        browser = harness.launch(playwright, chromium)
        _cold_load(browser, server.url, "overview")  # warm the service's caches and the shell
        overview = [_cold_load(browser, server.url, "overview") for _ in range(LOADS)]
        paint = statistics.median(o["paint"] for o in overview)
        data = statistics.median(o["data"] for o in overview)
        rows.append(
            _row("overview first contentful paint (median of 5 cold loads)", paint, "ms", FIRST_PAINT_TARGET_MS)
        )
        rows.append(_row("overview data shown (median of 5 cold loads)", data, "ms", DATA_SHOWN_TARGET_MS))
        for name in harness.PAGES:
            load = _cold_load(browser, server.url, name)
            rows.append(_row(f"{name}: bytes excluding plotly.js", load["bytes"] / 1024, "KB", BYTES_TARGET_KB))
            rows.append(_row(f"{name}: requests", load["requests"], "", REQUESTS_TARGET))
            if load["plotly"]:
                rows.append(
                    {
                        "name": f"{name}: plotly.js (the chart library)",
                        "value": round(load["plotly"] / 1024),
                        "unit": "KB",
                    }
                )
        browser.close()
    return rows


def _row(name: str, value: float, unit: str, target: float) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 1),
        "unit": unit,
        "target": f"<= {target:g} {unit}".strip(),
        "ok": value <= target,
    }
