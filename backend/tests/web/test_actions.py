"""Mutations from the page go through the admin endpoints, with their guard and their audit line:
the kill switch, a refused and an accepted setting, run-now, pause and resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from backend.observability.audit import token_fingerprint
from backend.tests.process import ServerProcess
from backend.tests.web.harness import HEADERS, TOKEN


def audit_lines(service: ServerProcess, action: str) -> list[dict[str, Any]]:
    path = Path(service.env["QT_ADMIN_AUDIT_PATH"])
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["action"] == action]


def risk(service: ServerProcess) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{service.url}/risk", headers=HEADERS, timeout=10).json()
    return body["kill_switch"]


def confirm(page: Any, reason: str) -> None:
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Reason (written to the audit log)").fill(reason)
    dialog.locator("button[value=confirm]").click()


def test_the_kill_switch_button_turns_the_switch_on_with_an_audit_line_and_off_again(
    open_page: Any, service: ServerProcess
) -> None:
    before = len(audit_lines(service, "POST /risk/kill-switch"))
    page, watch = open_page("/ui/overview")
    try:
        page.get_by_role("button", name="Turn kill switch on").click()
        confirm(page, "browser test: on")
        page.wait_for_function("() => document.getElementById('kill-state').textContent.startsWith('ON')")
        state = risk(service)
        assert state["enabled"] is True
        assert state["reason"] == "browser test: on"
        lines = audit_lines(service, "POST /risk/kill-switch")
        assert len(lines) == before + 1
        assert lines[-1]["outcome"] == "ok"
        assert lines[-1]["after"]["enabled"] is True
        assert lines[-1]["token_fingerprint"] == token_fingerprint(TOKEN)
        assert "Kill switch is now ON" in page.locator("#overview-status").inner_text()

        page.get_by_role("button", name="Turn kill switch off").click()
        confirm(page, "browser test: off")
        page.wait_for_function("() => document.getElementById('kill-state').textContent.startsWith('off')")
        assert risk(service)["enabled"] is False
        lines = audit_lines(service, "POST /risk/kill-switch")
        assert len(lines) == before + 2
        assert lines[-1]["after"]["enabled"] is False
        assert watch.problems() == []
    finally:
        httpx.post(f"{service.url}/risk/kill-switch", headers=HEADERS, json={"enabled": None}).raise_for_status()


def test_cancelling_the_confirmation_changes_nothing(open_page: Any, service: ServerProcess) -> None:
    before = len(audit_lines(service, "POST /risk/kill-switch"))
    page, _ = open_page("/ui/overview")
    page.get_by_role("button", name="Turn kill switch on").click()
    page.keyboard.press("Escape")
    assert page.get_by_role("dialog").count() == 0
    assert risk(service)["enabled"] is False
    assert len(audit_lines(service, "POST /risk/kill-switch")) == before


def test_a_bad_setting_shows_the_servers_refusal_in_place_and_a_good_one_applies(
    open_page: Any, service: ServerProcess
) -> None:
    name = "QT_MAX_NOTIONAL_PER_TRADE"
    refused = httpx.put(f"{service.url}/settings", headers=HEADERS, json={name: "-5"}, timeout=10)
    assert refused.status_code == 422
    page, watch = open_page("/ui/settings")
    field = page.get_by_label(f"New value of {name}")
    original = field.input_value()
    field.fill("-5")
    field.press("Enter")
    message = page.locator(f"#setting-{name}-message")
    page.wait_for_function(f"() => document.getElementById('setting-{name}-message').textContent !== ''")
    assert message.inner_text() == "; ".join(refused.json()["detail"])
    assert field.get_attribute("aria-invalid") == "true"
    assert watch.failed == [f"PUT {service.url}/settings: 422"]

    try:
        field.fill("750")
        page.locator(f'tr[data-name="{name}"] button', has_text="Save").click()
        page.wait_for_function(
            f"() => document.getElementById('setting-{name}-message').textContent.startsWith('Saved')"
        )
        row = page.locator(f'tr[data-name="{name}"]')
        assert row.locator("code.value").inner_text() == "750"
        assert row.locator('td[data-label="Source"] .badge').inner_text() == "override"
        assert field.get_attribute("aria-invalid") == "false"
    finally:
        httpx.put(f"{service.url}/settings", headers=HEADERS, json={name: original}, timeout=10).raise_for_status()
    # Chromium itself logs the refused request; nothing else may appear
    assert watch.console == [
        "error: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    ]


def test_run_now_runs_the_job_and_shows_its_outcome(open_page: Any, service: ServerProcess) -> None:
    before = len(audit_lines(service, "POST /scheduler/jobs/market-cache-refresh/run"))
    page, watch = open_page("/ui/overview")
    page.get_by_role("button", name="Run market-cache-refresh now").click()
    page.wait_for_function(
        "() => document.getElementById('overview-status').textContent.startsWith('market-cache-refresh: ok')"
    )
    assert len(audit_lines(service, "POST /scheduler/jobs/market-cache-refresh/run")) == before + 1
    assert watch.problems() == []


def test_pause_and_resume_the_scheduler(open_page: Any, service: ServerProcess) -> None:
    page, watch = open_page("/ui/overview")
    try:
        page.get_by_role("button", name="Pause scheduled runs").click()
        page.get_by_role("button", name="Resume scheduled runs").wait_for()
        assert httpx.get(f"{service.url}/health").json()["scheduler"]["paused"] is True
        page.get_by_role("button", name="Resume scheduled runs").click()
        page.get_by_role("button", name="Pause scheduled runs").wait_for()
        assert httpx.get(f"{service.url}/health").json()["scheduler"]["paused"] is False
    finally:  # resuming what is not paused is a 409 while the scheduler is disabled, as here
        if httpx.get(f"{service.url}/health").json()["scheduler"]["paused"]:
            httpx.post(f"{service.url}/scheduler/resume", headers=HEADERS).raise_for_status()
    assert [line["outcome"] for line in audit_lines(service, "POST /scheduler/pause")][-1:] == ["ok"]
    assert watch.problems() == []


def test_an_override_shows_the_environment_value_and_clearing_it_returns_there(
    open_page: Any, service: ServerProcess
) -> None:
    name = "QT_EXECUTION_MAX_ORDERS"
    httpx.put(f"{service.url}/settings", headers=HEADERS, json={name: "7"}, timeout=10).raise_for_status()
    before = len(audit_lines(service, f"DELETE /settings/{name}"))
    try:
        page, watch = open_page("/ui/settings")
        row = page.locator(f'tr[data-name="{name}"]')
        assert row.locator("code.value").inner_text() == "7"
        assert row.locator('td[data-label="Without override"] code').inner_text() == "10"
        page.get_by_role("button", name=f"Clear the override of {name}").click()
        page.wait_for_function(
            f"() => document.getElementById('setting-{name}-message').textContent.startsWith('Override cleared')"
        )
        assert row.locator("code.value").inner_text() == "10"
        assert row.locator('td[data-label="Source"] .badge').inner_text() == "default"
        assert row.get_by_role("button", name=f"Clear the override of {name}").is_hidden()
        lines = audit_lines(service, f"DELETE /settings/{name}")
        assert len(lines) == before + 1
        assert lines[-1]["outcome"] == "ok"
        assert watch.problems() == []
    finally:
        httpx.delete(f"{service.url}/settings/{name}", headers=HEADERS, timeout=10)


def test_a_backtest_started_from_the_page_runs_and_shows_its_metrics_beside_the_baselines(
    open_page: Any, service: ServerProcess
) -> None:
    page, watch = open_page("/ui/backtests")
    page.get_by_label("From (UTC)").fill("2026-01-02T00:00")
    page.get_by_label("To (UTC)").fill("2026-01-01T00:00")
    page.get_by_role("button", name="Start").click()
    status = page.locator("#backtest-status")
    page.wait_for_function("() => document.getElementById('backtest-status').textContent !== ''")
    assert "end must be after start" in status.inner_text()
    assert watch.failed == [f"POST {service.url}/backtests: 422"]

    page.get_by_label("To (UTC)").fill("2026-01-02T12:00")
    page.get_by_role("button", name="Start").click()
    page.wait_for_function("() => document.getElementById('backtest-status').textContent.startsWith('Backtest #')")
    run_id = int(status.inner_text().split("#")[1].split()[0])
    # a deadline for the worker process, not a timing assertion
    page.wait_for_function(
        f"() => document.querySelector('#backtest-detail h3')?.textContent === 'Backtest #{run_id}'"
        " && document.querySelector('#backtest-detail table.metrics')",
        timeout=180_000,
    )
    run = httpx.get(f"{service.url}/backtests/{run_id}", timeout=10).json()
    assert run["status"] == "completed", run["error"]
    books = page.locator("#backtest-detail table.metrics thead th").all_inner_texts()[1:]
    assert books[0] == "strategy"
    assert set(books) == set(run["metrics"])
    net = page.locator("#backtest-detail table.metrics tbody tr").first.locator("td").all_inner_texts()
    assert net[0] == "Net return"
    assert net[1:] == [f"{run['metrics'][b]['total_return'] * 100:.2f}%" for b in books]
    assert page.locator("#backtest-report").get_attribute("href") == run["report_url"]
    # its equity curves: one trace per book, each with as many points as the endpoint returned
    equity = httpx.get(f"{service.url}/backtests/{run_id}/equity", timeout=10).json()
    page.wait_for_function(f"() => document.getElementById('backtest-chart').dataset.run === '{run_id}'")
    traces = page.evaluate(
        "() => document.getElementById('backtest-chart').data.map((t) => [t.name, t.x.length, t.y.length])"
    )
    assert traces == [[c["book"], len(c["points"]), len(c["points"])] for c in equity["curves"]]
    assert [t[0] for t in traces] == books  # the strategy and every baseline of the metrics table
    assert all(t[1] > 1 for t in traces)
    assert page.locator("#backtest-chart .main-svg").count() > 0  # plotly drew it, under the strict CSP
    assert [line["outcome"] for line in audit_lines(service, "POST /backtests")][-1:] == ["ok"]


def test_a_running_backtest_is_cancelled_from_the_page(open_page: Any, service: ServerProcess) -> None:
    body = {"source": "simulated", "end": "2030-01-01T00:00:00Z", "baselines": []}  # hours of work
    started = httpx.post(f"{service.url}/backtests", json=body, headers=HEADERS, timeout=10)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    page, watch = open_page("/ui/backtests")
    page.wait_for_function(f"() => document.querySelector('#backtest-detail h3')?.textContent === 'Backtest #{run_id}'")
    page.get_by_role("button", name=f"Cancel backtest {run_id}").click()
    page.wait_for_function("() => document.getElementById('backtest-status').textContent.endsWith('cancelled.')")
    run = httpx.get(f"{service.url}/backtests/{run_id}", timeout=10).json()
    assert (run["status"], run["error"]) == ("failed", f"cancelled (POST /backtests/{run_id}/cancel)")
    page.wait_for_function("() => !document.getElementById('backtest-cancel')")  # only while it runs
    assert "cancelled (POST" in page.locator("#backtest-detail").inner_text()
    assert [line["outcome"] for line in audit_lines(service, f"POST /backtests/{run_id}/cancel")] == ["ok"]
    assert watch.problems() == []


def test_a_backtest_started_with_settings_from_the_page_shows_why_it_traded_nothing(
    open_page: Any, service: ServerProcess
) -> None:
    page, watch = open_page("/ui/backtests")
    page.get_by_label("From (UTC)").fill("2026-01-02T00:00")
    page.get_by_label("To (UTC)").fill("2026-01-02T06:00")
    settings = page.get_by_label("Settings for this run (JSON)")
    settings.fill("{QT_LIQUIDITY_QUOTE_ASSETS: BTC}")
    page.get_by_role("button", name="Start").click()
    status = page.locator("#backtest-status")
    page.wait_for_function("() => document.getElementById('backtest-status').textContent.startsWith('Settings')")
    assert "Settings for this run: not JSON" in status.inner_text()  # refused before anything is sent
    settings.fill('{"QT_LIQUIDITY_QUOTE_ASSETS": "BTC"}')  # the simulated pairs are USDT-quoted
    page.get_by_role("button", name="Start").click()
    page.wait_for_function("() => document.getElementById('backtest-status').textContent.startsWith('Backtest #')")
    run_id = int(status.inner_text().split("#")[1].split()[0])
    page.wait_for_function(
        "() => document.getElementById('backtest-warnings')", timeout=180_000
    )  # the worker's deadline
    run = httpx.get(f"{service.url}/backtests/{run_id}", timeout=10).json()
    assert run["params"]["settings"] == {"QT_LIQUIDITY_QUOTE_ASSETS": "BTC"}
    assert page.locator("#backtest-warnings li").all_inner_texts() == run["warnings"]
    assert "selected nothing" in run["warnings"][0]
    assert watch.problems() == []


def test_a_refusal_of_the_whole_body_reads_as_one_plain_line(open_page: Any, service: ServerProcess) -> None:
    # it read ": Value error, end is required with the simulated source"
    page, watch = open_page("/ui/backtests")
    page.get_by_role("button", name="Start").click()
    page.wait_for_function("() => document.getElementById('backtest-status').textContent !== ''")
    assert page.locator("#backtest-status").inner_text() == "end is required with the simulated source"
    assert watch.failed == [f"POST {service.url}/backtests: 422"]
