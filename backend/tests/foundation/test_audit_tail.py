"""GET /audit and read_tail: the audit log's newest entries, newest first, paginated, read backwards
so a page costs the same however long the log is; unreadable lines come back raw, never as a 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.observability.audit import AuditLog, read_tail
from backend.tests.conftest import ADMIN_HEADERS

ACTIONS = ["POST /risk/kill-switch", "PUT /settings", "POST /scheduler/pause", "POST /ai/train"]


@settings(max_examples=60, deadline=None)
@given(
    actions=st.lists(st.sampled_from(ACTIONS), max_size=40),
    block=st.integers(min_value=1, max_value=400),
    limit=st.integers(min_value=1, max_value=15),
    offset=st.integers(min_value=0, max_value=45),
    wanted=st.one_of(st.none(), st.sampled_from(["kill", "SETTINGS", "nothing-matches"])),
)
def test_a_page_is_the_reversed_log_sliced_whatever_the_block_size(
    tmp_path_factory: Any, actions: list[str], block: int, limit: int, offset: int, wanted: str | None
) -> None:
    path = tmp_path_factory.mktemp("audit") / "audit.log"
    log = AuditLog(path)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    written = [
        log.write(
            action, "ok", client="127.0.0.1", detail={"n": i, "text": "ü" * (i % 5)}, now=start + timedelta(seconds=i)
        )
        for i, action in enumerate(actions)
    ]
    newest_first = [json.loads(json.dumps(e)) for e in reversed(written)]
    if wanted:
        newest_first = [e for e in newest_first if wanted.lower() in e["action"].lower()]
    page = read_tail(path, limit=limit, offset=offset, action=wanted, block=block)
    assert page.entries == newest_first[offset : offset + limit]
    assert page.has_more == (len(newest_first) > offset + limit)


def test_a_missing_log_is_an_empty_page(tmp_path: Path) -> None:
    page = read_tail(tmp_path / "never-written.log", limit=10)
    assert page.entries == []
    assert page.has_more is False


def test_an_unreadable_line_comes_back_raw_and_the_rest_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    log.write("PUT /settings", "ok", client="c")
    with path.open("ab") as f:
        f.write(b'{"action": "POST /risk/kill-sw\n[1, 2]\n\xff\xfe not text\n')  # a torn write, a list, bytes
    log.write("POST /risk/reset", "ok", client="c")
    entries = read_tail(path, limit=10).entries
    assert [e.get("action") for e in entries] == ["POST /risk/reset", None, None, None, "PUT /settings"]
    assert entries[1]["raw"].endswith("not text")
    assert entries[2] == {"raw": "[1, 2]"}
    assert entries[3] == {"raw": '{"action": "POST /risk/kill-sw'}


def test_rotated_files_follow_the_current_one(tmp_path: Path) -> None:
    path = tmp_path / "admin_audit.log"
    for index, name in enumerate(["admin_audit.log.2", "admin_audit.log.1", "admin_audit.log"]):
        AuditLog(tmp_path / name).write(f"POST /step/{index}", "ok", client="c")
        AuditLog(tmp_path / name).write(f"POST /step/{index}b", "ok", client="c")
    page = read_tail(path, limit=5)
    assert [e["action"] for e in page.entries] == [
        "POST /step/2b",
        "POST /step/2",
        "POST /step/1b",
        "POST /step/1",
        "POST /step/0b",
    ]
    assert page.has_more is True


def test_get_audit_needs_the_token_and_shows_the_refused_attempt(client: Any) -> None:
    assert client.get("/audit").status_code == 401
    body = client.get("/audit", headers=ADMIN_HEADERS).json()
    assert body["entries"][0]["action"] == "GET /audit"
    assert body["entries"][0]["outcome"] == "refused: missing_token"
    assert body["has_more"] is False


def test_get_audit_pages_newest_first_and_filters_by_action(client: Any) -> None:
    for enabled in (True, False, True):
        client.post("/risk/kill-switch", headers=ADMIN_HEADERS, json={"enabled": enabled}).raise_for_status()
    client.post("/scheduler/pause", headers=ADMIN_HEADERS).raise_for_status()

    first = client.get("/audit", headers=ADMIN_HEADERS, params={"limit": 2}).json()
    assert [e["action"] for e in first["entries"]] == ["POST /scheduler/pause", "POST /risk/kill-switch"]
    assert first["has_more"] is True
    assert first["entries"][1]["after"]["enabled"] is True

    kill = client.get("/audit", headers=ADMIN_HEADERS, params={"action": "kill-switch", "offset": 1}).json()
    assert [e["after"]["enabled"] for e in kill["entries"]] == [False, True]
    assert kill["action"] == "kill-switch"
    assert kill["has_more"] is False


def test_get_audit_refuses_bad_paging_with_a_reason(client: Any) -> None:
    answer = client.get("/audit", headers=ADMIN_HEADERS, params={"limit": 0})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "limit"]
