"""The Telegram remote control against a local Bot API: allowed and foreign chats, audit, confirmation."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from backend.tests.fakes.telegram_api import FakeBotAPI, fake_bot_api
from backend.tests.notify.conftest import counter

TOKEN = "987654321:AAFakeTokenForTheLocalBotApi_0123456"
OPERATOR = 4242
STRANGER = 666


@pytest.fixture
def bot() -> Any:
    with fake_bot_api(TOKEN) as api:
        yield api


@pytest.fixture
def app(make_settings: SettingsFactory, client_for: Callable[..., Any], bot: FakeBotAPI) -> Any:
    settings = make_settings(
        notify={
            "QT_TELEGRAM_BOT_TOKEN": TOKEN,
            "QT_TELEGRAM_API_URL": bot.url,
            "QT_TELEGRAM_ALLOWED_CHATS": f"{OPERATOR},-100123",
            "QT_TELEGRAM_POLL_SECONDS": 1,
        }
    )
    client = client_for(settings)
    client.settings = settings
    return client


def _audit(app: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in app.settings.app.admin_audit_path.read_text().splitlines()]


def _ask(bot: FakeBotAPI, text: str, chat: int = OPERATOR) -> str:
    before = len(bot.answers(chat, 0, timeout=0))
    bot.say(chat, text)
    answers = bot.answers(chat, before + 1)
    assert len(answers) > before, f"no answer to {text!r}"
    return answers[-1]


def _kill_switch(app: Any) -> dict[str, Any]:
    return app.get("/risk", headers=ADMIN_HEADERS).json()["kill_switch"]


def test_stop_and_resume_with_confirmation_from_an_allowed_chat_audited_with_the_chat_id(
    app: Any, bot: FakeBotAPI
) -> None:
    assert "Kill switch ON (exchange looks wrong)" in _ask(bot, "/stop exchange looks wrong")
    state = _kill_switch(app)
    assert state["enabled"] is True
    assert state["actor"] == f"telegram:{OPERATOR}"
    answer = _ask(bot, "/resume")
    assert _kill_switch(app)["enabled"] is True  # nothing changes before the confirmation
    code = answer.split("/confirm ")[1].split()[0]
    assert "Wrong confirmation code" in _ask(bot, "/confirm 000000" if code != "000000" else "/confirm 111111")
    assert "No /resume is waiting" in _ask(bot, f"/confirm {code}")  # a wrong code cancels the request
    code = _ask(bot, "/resume").split("/confirm ")[1].split()[0]
    assert "Kill switch OFF" in _ask(bot, f"/confirm {code}")
    assert _kill_switch(app)["enabled"] is False
    entries = [e for e in _audit(app) if e["action"].startswith("TELEGRAM")]
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("TELEGRAM /stop", "ok"),
        ("TELEGRAM /resume", "confirmation asked"),
        ("TELEGRAM /confirm", "refused: wrong code"),
        ("TELEGRAM /confirm", "refused: no resume waiting"),
        ("TELEGRAM /resume", "confirmation asked"),
        ("TELEGRAM /resume", "ok"),
    ]
    assert {e["client"] for e in entries} == {f"telegram:{OPERATOR}"}
    assert entries[0]["before"]["enabled"] is False and entries[0]["after"]["enabled"] is True  # noqa: PT018
    assert entries[-1]["after"]["enabled"] is False


def test_a_foreign_chat_is_ignored_counted_and_audited_as_refused(app: Any, bot: FakeBotAPI) -> None:
    update = bot.say(STRANGER, "/stop")
    bot.say(STRANGER, "hello")
    assert bot.wait_confirmed(update + 1)
    assert _ask(bot, "/help").startswith("/status")  # the operator's chat still works after them
    assert bot.answers(STRANGER, 1, timeout=0.2) == []
    assert _kill_switch(app)["enabled"] is False
    metrics = app.app.state.ctx.metrics
    assert counter(metrics, "telegram_updates_ignored_total", reason="foreign_chat") == 1
    assert counter(metrics, "telegram_updates_ignored_total", reason="not_a_command") == 1
    refused = [e for e in _audit(app) if e["action"] == "TELEGRAM /stop"]
    assert [(e["client"], e["outcome"]) for e in refused] == [(f"telegram:{STRANGER}", "refused: chat not allowed")]


def test_status_balance_positions_pause_and_resumejobs(app: Any, bot: FakeBotAPI) -> None:
    status = _ask(bot, "/status")
    assert status.startswith("Status: ")
    assert "Kill switch: off" in status
    assert "Equity 10,000.00 USDT" in _ask(bot, "/balance")
    assert _ask(bot, "/positions") == "No open positions."
    assert "paused" in _ask(bot, "/pause")
    assert app.get("/scheduler/status", headers=ADMIN_HEADERS).json()["paused"] is True
    assert "resumed" in _ask(bot, "/resumejobs")
    assert app.get("/scheduler/status", headers=ADMIN_HEADERS).json()["paused"] is False
    assert _ask(bot, "/nonsense").startswith("Unknown command /nonsense")
    actions = [e["action"] for e in _audit(app) if e["action"].startswith("TELEGRAM")]
    assert actions == [
        "TELEGRAM /status",
        "TELEGRAM /balance",
        "TELEGRAM /positions",
        "TELEGRAM /pause",
        "TELEGRAM /resumejobs",
    ]


def test_a_command_queued_while_the_service_was_down_is_not_obeyed(app: Any, bot: FakeBotAPI) -> None:
    update = bot.say(OPERATOR, "/stop", age_seconds=600)
    assert bot.wait_confirmed(update)
    assert _kill_switch(app)["enabled"] is False
    assert counter(app.app.state.ctx.metrics, "telegram_updates_ignored_total", reason="too_old") == 1


def test_no_answer_log_or_audit_line_holds_the_bot_token(
    app: Any, bot: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _ask(bot, "/status")
    _ask(bot, "/stop drill")
    texts = [m["text"] for m in bot.sent]
    settings = app.get("/settings", headers=ADMIN_HEADERS).text
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    audit = app.settings.app.admin_audit_path.read_text()
    assert "/bot***/sendMessage" in logged  # httpx logged the Bot API calls, the token redacted
    for shown in (*texts, settings, logged, audit):
        assert TOKEN not in shown
        assert TOKEN.split(":")[1] not in shown
