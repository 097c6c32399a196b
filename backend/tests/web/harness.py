"""The pieces the browser tests, `make screenshots` and the page benchmark share: the service as a
real process with some history (a universe, a rebalance, a model run, admin actions), and Debian's
headless Chromium driven by Playwright, watching every page for console errors and failed requests."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from backend.tests.process import ServerProcess
from backend.web.routes import PAGES
from database.migrate import upgrade

TOKEN = "web-test-admin-token"
HEADERS = {"X-Admin-Token": TOKEN}
# The network is closed: without these, Chromium's background services flood the log with refusals.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]
MISSING_CHROMIUM = (
    "Chromium is not installed: the browser tests need Debian's chromium package "
    "(apt-get update && apt-get install -y chromium); .ci/run installs it"
)


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def service_env(tmp: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "QT_ADMIN_TOKEN": TOKEN,
        "QT_ADMIN_AUDIT_PATH": str(tmp / "audit.log"),
        "QT_RISK_STATE_DB": str(tmp / "risk.db"),
        "QT_TRADES_LOG_PATH": str(tmp / "trades.log"),
        "QT_MODEL_ARTIFACTS_DIR": str(tmp / "artifacts"),
        "QT_MODEL_AUTO_TRAIN": "0",
        "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",
        "QT_LOG_LEVEL": "WARNING",
        **extra,
    }


BACKTEST = {"source": "simulated", "start": "2026-01-02T00:00:00Z", "end": "2026-01-04T00:00:00Z"}


def seed(server: ServerProcess, *, train: bool = True, backtest: bool = False) -> None:
    """Give every page something to show, through the same admin endpoints an operator uses."""
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=120.0) as client:
        if backtest:  # runs in the service's worker process while the rest is seeded
            client.post("/backtests", json=BACKTEST).raise_for_status()
        for job in ("market-cache-refresh", "liquidity-refresh", "execution-rebalance"):
            answer = client.post(f"/scheduler/jobs/{job}/run")
            answer.raise_for_status()
            assert answer.json()["run"]["status"] == "ok", answer.text
        client.put("/settings", json={"QT_MAX_POSITION_PER_SYMBOL": "2500"}).raise_for_status()
        client.put("/settings", json={"QT_MAX_GROSS_EXPOSURE": "15000"}).raise_for_status()
        if train:
            client.post("/ai/train", json={"days": 10, "activate": "never"}).raise_for_status()
            deadline = time.monotonic() + 180  # training runs in the service's background, on its clock
            while time.monotonic() < deadline:
                runs = client.get("/ai/runs").json()["items"]
                if runs and runs[0]["status"] != "running":
                    break
                time.sleep(0.25)
        client.post("/scheduler/jobs/market-cache-refresh/run").raise_for_status()
        client.post("/scheduler/jobs/execution-rebalance/run").raise_for_status()
        deadline = time.monotonic() + 180  # the backtest's worker, on a deadline
        while backtest and time.monotonic() < deadline:
            if client.get("/backtests").json()["items"][0]["status"] in ("completed", "failed"):
                break
            time.sleep(0.25)


@contextmanager
def running_service(tmp: Path | None = None, database_url: str | None = None, **extra: str) -> Iterator[ServerProcess]:
    """The real service on loopback with a fresh SQLite database (or the given URL), stopped after."""
    tmp = tmp or Path(tempfile.mkdtemp(prefix="qt-web-"))
    if database_url is None:
        database_url = f"sqlite:///{tmp / 'web.db'}"
        upgrade(database_url)
    server = ServerProcess(service_env(tmp, database_url, **extra), tmp / "server.log").start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Watch:
    """What one browser page did wrong: console errors and warnings, failed or refused requests."""

    console: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)

    def attach(self, page: Any) -> Watch:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.console.append(f"uncaught: {e}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)
        page.on("request", lambda r: self.requests.append(r))
        return self

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text}")

    def _request_failed(self, request: Any) -> None:
        # net::ERR_ABORTED is the page cancelling its own request: switching pages aborts the old
        # page's fetches (app.js, AbortController), which is what it should do, not a failure
        if request.failure != "net::ERR_ABORTED":
            self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.request.method} {response.url}: {response.status}")

    def problems(self) -> list[str]:
        return self.console + self.failed


def launch(playwright: Any, executable: str) -> Any:
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)


def new_page(browser: Any, base_url: str, *, token: str | None = TOKEN, width: int = 1280, height: int = 900) -> Any:
    """A fresh context (its own sessionStorage) with the token already typed in, or none."""
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height})
    if token is not None:
        context.add_init_script(f"sessionStorage.setItem('qt.adminToken', {token!r});")
    return context.new_page()


def wait_loaded(page: Any) -> None:
    """The page's first refresh has finished (the footer says when it updated), or a token screen
    shows."""
    page.wait_for_function(
        "() => document.getElementById('updated').textContent.startsWith('Updated')"
        " || document.querySelector('.token-form')"
    )
    page.wait_for_load_state("networkidle")


__all__ = ["PAGES", "TOKEN"]
