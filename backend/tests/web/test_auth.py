"""The admin token in the browser: typed once, kept in sessionStorage, sent as X-Admin-Token and
nowhere else; clear screens when it is missing or refused; public data shows without it."""

from __future__ import annotations

from typing import Any

import pytest

from backend.tests.web.harness import TOKEN

ADMIN_PAGES = ["portfolio", "orders", "universe", "settings", "audit"]


@pytest.mark.parametrize("name", ["overview", "model"])
def test_public_pages_show_their_data_without_a_token_and_ask_for_none(open_page: Any, name: str) -> None:
    page, watch = open_page(f"/ui/{name}", token=None)
    assert page.locator(".token-form").count() == 0
    assert page.locator(".hint button.link", has_text="sign in").count() >= 1
    assert watch.problems() == []  # no admin call was attempted without the token
    assert all("x-admin-token" not in r.all_headers() for r in watch.requests)


def test_public_overview_shows_health_and_the_kill_switch_state(open_page: Any) -> None:
    page, _ = open_page("/ui/overview", token=None)
    assert page.locator("#kill-state").inner_text().startswith("off")
    assert page.get_by_role("button", name="Run market-cache-refresh now").is_disabled()


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_an_admin_page_without_a_token_shows_the_token_screen_and_calls_nothing(open_page: Any, name: str) -> None:
    page, watch = open_page(f"/ui/{name}", token=None)
    assert page.locator("#token-title").inner_text() == "Admin token needed"
    assert page.evaluate("() => document.activeElement.id") == "token-input"
    assert watch.problems() == []
    assert not [r.url for r in watch.requests if r.resource_type == "fetch" and not r.url.endswith("/health")]


def test_a_wrong_token_shows_the_refused_screen_and_is_forgotten(open_page: Any) -> None:
    page, watch = open_page("/ui/portfolio", token="not-the-token")
    page.wait_for_selector("#token-title")
    assert page.locator("#token-title").inner_text() == "Token refused"
    assert "refused that token (403)" in page.locator(".token-form [role=alert]").inner_text()
    assert page.evaluate("() => sessionStorage.getItem('qt.adminToken')") is None
    assert any(f.endswith("/portfolio: 403") for f in watch.failed)


def test_signing_in_sends_the_token_only_as_a_header_and_signing_out_clears_it(open_page: Any) -> None:
    page, watch = open_page("/ui/audit", token=None)
    field = page.get_by_label("Admin token", exact=True)
    field.fill(TOKEN)
    field.press("Enter")
    page.wait_for_selector("text=Admin actions, newest first")
    assert page.evaluate("() => sessionStorage.getItem('qt.adminToken')") == TOKEN
    assert page.evaluate("() => localStorage.length") == 0
    assert page.evaluate("() => document.cookie") == ""
    assert page.context.cookies() == []
    admin_calls = [r for r in watch.requests if r.resource_type == "fetch" and "/audit?" in r.url]
    assert admin_calls
    assert all(r.all_headers().get("x-admin-token") == TOKEN for r in admin_calls)
    assert all(TOKEN not in r.url for r in watch.requests)
    assert TOKEN not in page.url

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("#token-title")
    assert page.evaluate("() => sessionStorage.getItem('qt.adminToken')") is None
    assert watch.problems() == []
