"""Fixtures of the browser tests: Debian's Chromium through Playwright, and one seeded service process
for the module (its pages are read far more than they are changed; tests that change something put
it back)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.tests.process import ServerProcess
from backend.tests.web import harness


@pytest.fixture(scope="session")
def chromium() -> str:
    path = harness.chromium_path()
    if path is None:
        pytest.skip(harness.MISSING_CHROMIUM)
    return path


# Module scope, not session: Playwright's sync API leaves its event loop marked running in the main
# thread while it is open, and under pytest-xdist a worker moves between modules, where a test that
# calls asyncio.run (or an async test) would then refuse to start. pytest closes a module's fixtures
# as soon as the worker's next test is in another module.
@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = harness.launch(playwright, chromium)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[ServerProcess]:
    tmp: Path = tmp_path_factory.mktemp("web-service")
    with harness.running_service(tmp) as server:
        harness.seed(server, train=False)
        yield server


@pytest.fixture
def open_page(browser: Any, service: ServerProcess) -> Iterator[Any]:
    """open_page(path, token=..., width=..., clock=...) -> (page, watch); contexts are closed after the test.

    With clock=True the page's timers run on Playwright's clock, so a test moves time on instead of
    waiting for the polling period."""
    contexts: list[Any] = []

    def opener(
        path: str, *, token: str | None = harness.TOKEN, width: int = 1280, wait: bool = True, clock: bool = False
    ) -> Any:
        page = harness.new_page(browser, service.url, token=token, width=width)
        contexts.append(page.context)
        watch = harness.Watch().attach(page)
        if clock:
            page.clock.install()
        page.goto(path)
        if wait:
            harness.wait_loaded(page)
        return page, watch

    yield opener
    for context in contexts:
        context.close()
