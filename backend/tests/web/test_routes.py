"""The page's routes without a browser: what is served where, with which headers, and that nothing
in the page needs 'unsafe-inline' or eval (the CSP forbids both)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from backend.web.routes import CSP, PAGES, STATIC_DIR, find_plotly, self_injected_style_ids

SHELL_FILE = STATIC_DIR.parent / "index.html"


def test_the_root_redirects_to_the_page(client: Any) -> None:
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/ui"


@pytest.mark.parametrize("path", ["/ui", *(f"/ui/{page}" for page in PAGES)])
def test_each_page_is_the_shell_with_a_csp_of_this_origin_only(client: Any, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert '<script type="module" src="/ui/static/app.js">' in answer.text


def test_the_csp_names_no_other_origin_and_allows_nothing_inline() -> None:
    sources = " ".join(directive.split(" ", 1)[1] for directive in CSP.split("; "))
    assert set(sources.split()) <= {"'self'", "'none'"}


def test_an_unknown_page_is_a_404_that_names_the_pages(client: Any) -> None:
    answer = client.get("/ui/nope")
    assert answer.status_code == 404
    assert "overview" in answer.json()["detail"]


@pytest.mark.parametrize("path", ["/ui/static/../routes.py", "/ui/static/%2e%2e/routes.py", "/ui/static/nothing.js"])
def test_static_files_stay_inside_their_folder(client: Any, path: str) -> None:
    assert client.get(path).status_code == 404


def test_static_files_carry_the_csp_and_revalidate(client: Any) -> None:
    answer = client.get("/ui/static/app.js")
    assert answer.status_code == 200
    assert "javascript" in answer.headers["content-type"]
    assert answer.headers["content-security-policy"] == CSP
    assert answer.headers["cache-control"] == "no-cache"
    again = client.get("/ui/static/app.js", headers={"if-none-match": answer.headers["etag"]})
    assert again.status_code == 304


def test_plotly_is_served_from_the_installed_package(client: Any) -> None:
    plotly = find_plotly()
    assert plotly is not None, "plotly is a runtime requirement (backend/requirements.txt)"
    answer = client.get("/ui/vendor/plotly.min.js")
    assert answer.status_code == 200
    assert answer.content == plotly.path.read_bytes()
    assert answer.headers["etag"] == f'"plotly-{plotly.version}"'
    assert client.get("/ui/vendor/plotly.min.js", headers={"if-none-match": answer.headers["etag"]}).status_code == 304


def test_the_shell_declares_every_stylesheet_the_plotly_bundle_would_inject_inline(client: Any) -> None:
    """plotly.js creates a <style> in two places: its own rules (which go into plotly-rules.css, the
    sheet with the id it looks for) and bundled stylesheets that it skips when their id exists. If a
    new plotly version injects styles another way, this fails before the browser tests do."""
    plotly = find_plotly()
    assert plotly is not None
    bundle = plotly.path.read_bytes()
    ids = self_injected_style_ids(bundle)
    assert bundle.count(b'createElement("style")') == len(ids) + 1
    assert b'"plotly.js-style-"+' in bundle
    shell = client.get("/ui").text
    assert 'id="plotly.js-style-global" href="/ui/static/plotly-rules.css"' in shell
    for style_id in ids:
        assert f'id="{style_id}"' in shell


class _Inline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")
        self.problems += [f"{name}= on <{tag}>" for name in names if name == "style" or name.startswith("on")]


def test_the_shell_has_no_inline_script_style_or_handler() -> None:
    parser = _Inline()
    parser.feed(SHELL_FILE.read_text())
    assert parser.problems == []


FORBIDDEN = {
    r"\.innerHTML\b|\.outerHTML\s*=|insertAdjacentHTML": "markup from strings (the API's text must stay text)",
    r"\beval\(|new Function\(|setTimeout\(\s*['\"`]": "eval (the CSP forbids it)",
    r"setAttribute\(\s*['\"]style|\.style\.cssText|['\"]style['\"]\s*:": "inline style attributes (CSP)",
    r"localStorage|document\.cookie\s*=": "the token belongs in sessionStorage only",
    r"https?://": "another origin",
}


@pytest.mark.parametrize("path", sorted(p.relative_to(STATIC_DIR) for p in STATIC_DIR.rglob("*.js")), ids=str)
def test_no_script_builds_markup_from_strings_evals_or_talks_to_another_origin(path: Path) -> None:
    text = (STATIC_DIR / path).read_text()
    found = [why for pattern, why in FORBIDDEN.items() if re.search(pattern, text)]
    assert found == []


def test_every_page_has_a_module_and_a_link() -> None:
    modules = sorted(p.stem for p in (STATIC_DIR / "pages").glob("*.js"))
    assert modules == sorted(PAGES)
    shell = SHELL_FILE.read_text()
    for page in PAGES:
        assert f'href="/ui/{page}" data-page="{page}"' in shell
    assert f"const PAGES = {list(PAGES)!r};".replace('"', "'") in (STATIC_DIR / "app.js").read_text().replace('"', "'")
