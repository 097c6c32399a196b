"""Every page in a real headless Chromium against the real service: it loads with no console error
and no failed request, its controls are labelled, it fits a narrow screen, and it updates itself."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from backend.tests.process import ServerProcess
from backend.tests.web.harness import HEADERS, PAGES

TITLES = {page: page.capitalize() for page in PAGES}


@pytest.mark.parametrize("name", PAGES)
def test_every_page_loads_with_no_console_error_and_no_failed_request(open_page: Any, name: str) -> None:
    page, watch = open_page(f"/ui/{name}")
    assert page.locator("main h1").inner_text() == TITLES[name]
    assert page.locator(f'nav a[data-page="{name}"]').get_attribute("aria-current") == "page"
    assert page.locator(".token-form").count() == 0
    assert watch.problems() == []
    assert page.locator("#problem").inner_text() == ""


@pytest.mark.parametrize("name", PAGES)
def test_every_control_has_a_label(open_page: Any, name: str) -> None:
    page, _ = open_page(f"/ui/{name}")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((el) => !(el.labels?.length || el.getAttribute('aria-label')
                              || (el.tagName === 'BUTTON' && el.textContent.trim())))
            .map((el) => el.outerHTML)"""
    )
    assert unlabelled == []


@pytest.mark.parametrize("name", PAGES)
def test_every_page_fits_a_narrow_screen(open_page: Any, name: str) -> None:
    page, watch = open_page(f"/ui/{name}", width=360)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    assert watch.problems() == []


def test_the_root_redirects_to_the_overview(open_page: Any, service: ServerProcess) -> None:
    page, watch = open_page("/")
    assert page.url == f"{service.url}/ui"
    assert page.locator("main h1").inner_text() == "Overview"
    assert watch.problems() == []


def test_pages_switch_without_reloading_and_back_returns(open_page: Any) -> None:
    page, watch = open_page("/ui/overview")
    page.evaluate("() => { window.__sameDocument = true; }")
    page.get_by_role("link", name="Universe").click()
    page.wait_for_selector("text=Selection in force")
    assert page.url.endswith("/ui/universe")
    page.go_back()
    page.wait_for_selector("text=Kill switch")
    assert page.evaluate("() => window.__sameDocument") is True
    assert watch.problems() == []


def test_the_keyboard_reaches_the_skip_link_and_the_pages(open_page: Any) -> None:
    page, _ = open_page("/ui/overview")
    from playwright.sync_api import expect

    # expect(...) waits for the focus to move (the page moves it after rendering, which on a
    # loaded machine can come after the heading shows)
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    page.locator('nav a[data-page="audit"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Admin actions, newest first")
    expect(page.locator("#main")).to_be_focused()


def test_numbers_have_thousand_separators_and_the_quantitys_own_precision(
    open_page: Any, service: ServerProcess
) -> None:
    portfolio = httpx.get(f"{service.url}/portfolio", headers=HEADERS, timeout=10).json()
    page, _ = open_page("/ui/portfolio")
    position = max(portfolio["positions"], key=lambda p: float(p["quantity"]))
    row = page.locator("tbody tr", has=page.locator(f"text={position['symbol']}")).first
    shown = row.locator("td").nth(1).inner_text()
    integer, _, fraction = position["quantity"].partition(".")
    expected = f"{int(integer):,}" + (f".{fraction.rstrip('0')}" if fraction.rstrip("0") else "")
    assert shown == expected
    equity = page.locator(".stat", has=page.locator("text=Equity")).locator(".value").inner_text()
    assert equity == f"{float(portfolio['equity']):,.2f} USDT"


def test_times_are_relative_with_the_utc_time_on_hover(open_page: Any) -> None:
    page, _ = open_page("/ui/orders")
    first = page.locator("table time").first
    assert first.get_attribute("title").endswith(" UTC")
    assert "ago" in first.inner_text() or first.inner_text() == "now"


def test_the_overview_follows_a_change_made_with_curl_without_reloading(open_page: Any, service: ServerProcess) -> None:
    page, watch = open_page("/ui/overview", clock=True)
    assert "off" in page.locator("#kill-state").inner_text()
    try:
        httpx.post(
            f"{service.url}/risk/kill-switch", headers=HEADERS, json={"enabled": True, "reason": "curl"}
        ).raise_for_status()
        page.clock.run_for(6000)  # one polling period
        page.wait_for_function("() => document.getElementById('kill-state').textContent.startsWith('ON')")
        assert page.locator("#kill-pill").inner_text() == "kill switch ON"
    finally:
        httpx.post(f"{service.url}/risk/kill-switch", headers=HEADERS, json={"enabled": None}).raise_for_status()
    page.clock.run_for(6000)
    page.wait_for_function("() => document.getElementById('kill-state').textContent.startsWith('off')")
    assert watch.problems() == []


def test_the_equity_chart_has_as_many_points_as_the_history_returned(open_page: Any, service: ServerProcess) -> None:
    history = httpx.get(f"{service.url}/portfolio/history", headers=HEADERS, timeout=10).json()
    assert history["points"], "the seed's cycles leave marks"
    page, watch = open_page("/ui/portfolio")
    page.wait_for_function("() => document.getElementById('equity-chart').dataset.points")
    traces = page.evaluate(
        "() => document.getElementById('equity-chart').data.map((t) => [t.name, t.x.length, t.y.length])"
    )
    n = len(history["points"])
    assert traces == [["Equity", n, n], ["Cash", n, n], ["Gross exposure", n, n], ["Drawdown", n, n]]
    assert page.locator("#equity-chart .main-svg").count() > 0  # plotly drew it, under the strict CSP
    assert f"{n} points" in page.locator("#history-summary").inner_text()
    assert watch.problems() == []


def test_orders_show_each_cycle_with_its_orders_fees_and_skipped_reasons(
    open_page: Any, service: ServerProcess
) -> None:
    runs = httpx.get(f"{service.url}/execution/runs", headers=HEADERS, params={"kind": "cycle"}, timeout=10).json()
    bought = next(r for r in reversed(runs["runs"]) if r["orders_submitted"] > 0)
    skipping = next(r for r in runs["runs"] if r["orders_skipped"] > 0)
    page, watch = open_page("/ui/orders")
    assert page.locator("table.cycles tbody tr").count() == len(runs["runs"])
    assert page.locator("#run-detail").get_attribute("data-run") == str(runs["runs"][0]["id"])  # the latest, open

    page.get_by_role("button", name=f"Show cycle {skipping['id']}").click()
    page.wait_for_selector(f'#run-detail[data-run="{skipping["id"]}"]')
    detail = httpx.get(f"{service.url}/execution/runs/{skipping['id']}", headers=HEADERS, timeout=10).json()
    reasons = page.locator("#run-detail table.skipped tbody tr td:last-child").all_inner_texts()
    assert reasons == [s["reason"] for s in detail["skipped"]]

    page.get_by_role("button", name=f"Show cycle {bought['id']}").click()
    page.wait_for_selector(f'#run-detail[data-run="{bought["id"]}"]')
    orders = httpx.get(f"{service.url}/execution/runs/{bought['id']}", headers=HEADERS, timeout=10).json()["orders"]
    assert page.locator("#run-detail table:not(.skipped) tbody tr").count() == len(orders)

    symbol = orders[0]["symbol"]
    page.get_by_label("Symbol").fill(symbol)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_function(
        f"() => document.getElementById('run-detail')?.querySelector('h3')?.textContent.includes('{symbol} only')"
    )
    shown = page.locator("#run-detail table:not(.skipped) tbody tr td:first-child").all_inner_texts()
    assert shown == [symbol]
    assert watch.problems() == []


def test_the_model_page_shows_each_runs_gates_and_why_one_failed(open_page: Any, service: ServerProcess) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, delete
    from sqlalchemy.orm import Session

    from ai_engine.gates import Gate, gate_report
    from database.models import ModelTrainingRun

    report = gate_report(
        [
            Gate("class_prior", True, "out-of-sample log loss 1.0000 below the class prior 1.0500", 1.0, 1.05),
            Gate("economic", False, "net return -2.10 % against the blend without the model -1.00 %", -0.021, -0.01),
        ]
    )
    now = datetime.now(UTC)
    engine = create_engine(service.env["DATABASE_URL"])
    with Session(engine) as session, session.begin():
        session.add(
            ModelTrainingRun(
                version="web-test-gates", status="completed", started_at=now, finished_at=now, duration_seconds=1.0,
                metrics={"summary": {"log_loss": 1.0, "class_prior_log_loss": 1.05, "accuracy": 0.4}, "gates": report},
            )
        )  # fmt: skip
    try:
        page, watch = open_page("/ui/model")
        row = page.locator("tbody tr", has=page.locator("code", has_text="web-test-gates"))
        assert row.locator(".badge", has_text="failed: economic").count() == 1
        assert row.locator(".gate-reasons li").all_inner_texts() == [
            f"economic: {next(g['reason'] for g in report['gates'] if g['name'] == 'economic')}"
        ]
        assert watch.problems() == []
    finally:
        with Session(engine) as session, session.begin():
            session.execute(delete(ModelTrainingRun).where(ModelTrainingRun.version == "web-test-gates"))
        engine.dispose()
