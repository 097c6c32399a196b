"""Remote control over Telegram: the bot's getUpdates long poll, on the leader replica only.

Commands from chats in QT_TELEGRAM_ALLOWED_CHATS: /status, /balance, /positions, /stop [reason],
/resume (then /confirm CODE within QT_TELEGRAM_CONFIRM_SECONDS), /pause, /resumejobs, /help.
Every command is written to the admin audit log like an admin request, with ``telegram:<chat id>``
as the client; a change whose audit line cannot be written is not made. Updates from any other
chat, non-commands and messages older than two minutes (queued while the service was down) are
ignored, counted, and never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from backend.observability.audit import AuditLog, AuditWriteError
from backend.observability.metrics import Metrics

log = logging.getLogger(__name__)

MAX_AGE = timedelta(minutes=2)
COMMANDS = ("status", "balance", "positions", "stop", "resume", "confirm", "pause", "resumejobs", "help")
HELP = (
    "/status  health, kill switch, scheduler\n"
    "/balance  equity and cash\n"
    "/positions  open positions\n"
    "/stop [reason]  kill switch on\n"
    "/resume  kill switch off (asks for a confirmation)\n"
    "/pause  pause the scheduled jobs\n"
    "/resumejobs  resume the scheduled jobs"
)


class Refused(Exception):
    """The command cannot be carried out; the text is the answer."""


@dataclass
class Controls:
    """What the commands act on, as plain callables (the component binds them to the services)."""

    status: Callable[[], Awaitable[str]]
    balance: Callable[[], Awaitable[str]]
    positions: Callable[[], Awaitable[str]]
    kill_switch: Callable[[bool, str, str, Callable[[Any, Any], None]], Awaitable[Any]]
    pause: Callable[[], None]
    resume_jobs: Callable[[], None]
    jobs_paused: Callable[[], bool]


@dataclass
class _Pending:
    code: str
    expires: datetime


class TelegramControl:
    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        allowed_chats: list[str],
        controls: Controls,
        audit: AuditLog,
        metrics: Metrics,
        clock: Callable[[], datetime],
        confirm_seconds: int,
        poll_seconds: int,
        is_leader: Callable[[], Awaitable[bool]],
    ) -> None:
        self._base = f"{api_url}/bot{token}"
        self._allowed = set(allowed_chats)
        self._controls = controls
        self._audit = audit
        self._metrics = metrics
        self._clock = clock
        self._confirm = timedelta(seconds=confirm_seconds)
        self._poll = poll_seconds
        self._is_leader = is_leader
        self._offset: int | None = None
        self._pending: dict[str, _Pending] = {}
        self._client = httpx.AsyncClient(timeout=poll_seconds + 10)

    async def close(self) -> None:
        await self._client.aclose()

    # the Bot API ------------------------------------------------------------------------------------
    async def _call(self, method: str, payload: dict[str, Any]) -> Any:
        try:
            response = await self._client.post(f"{self._base}/{method}", json=payload)
        except httpx.HTTPError as exc:
            raise ConnectionError(f"Telegram {method}: {type(exc).__name__}") from None
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != 200 or not body.get("ok"):
            raise ConnectionError(
                f"Telegram {method}: HTTP {response.status_code} {body.get('description', '')}".strip()
            )
        return body.get("result")

    async def send(self, chat_id: str, text: str) -> None:
        await self._call("sendMessage", {"chat_id": chat_id, "text": text})

    async def poll_once(self) -> int:
        """One getUpdates call; every update is handled and confirmed (by the next offset)."""
        payload: dict[str, Any] = {"timeout": self._poll, "allowed_updates": ["message"]}
        if self._offset is not None:
            payload["offset"] = self._offset
        updates = await self._call("getUpdates", payload) or []
        for update in updates:
            self._offset = int(update["update_id"]) + 1
            try:
                await self.handle(update)
            except Exception as exc:  # one bad update must not stop the control
                log.warning(
                    "telegram update not handled", extra={"error": (str(exc) or type(exc).__name__).splitlines()[0]}
                )
        return len(updates)

    async def loop(self) -> None:
        while True:
            try:
                if await self._is_leader():
                    await self.poll_once()
                    continue
            except Exception as exc:
                log.warning("telegram poll failed", extra={"error": (str(exc) or type(exc).__name__).splitlines()[0]})
            await asyncio.sleep(max(self._poll, 1))

    # commands -----------------------------------------------------------------------------------------
    async def handle(self, update: dict[str, Any]) -> str | None:
        """Carry out one update's command; the answer sent (None when ignored)."""
        message = update.get("message") or {}
        chat_id = str((message.get("chat") or {}).get("id", ""))
        text = str(message.get("text") or "").strip()
        if not text.startswith("/"):
            self._metrics.telegram_ignored.labels(reason="not_a_command").inc()
            return None
        word, _, rest = text[1:].partition(" ")
        command = word.split("@", 1)[0].lower()
        client = f"telegram:{chat_id}"
        if chat_id not in self._allowed:
            self._metrics.telegram_ignored.labels(reason="foreign_chat").inc()
            self._write_audit(f"TELEGRAM /{command[:20]}", "refused: chat not allowed", client)
            log.warning("telegram command from a chat that is not allowed ignored", extra={"chat": chat_id})
            return None
        sent = datetime.fromtimestamp(int(message.get("date") or 0), UTC)
        if self._clock() - sent > MAX_AGE:
            self._metrics.telegram_ignored.labels(reason="too_old").inc()
            return None
        if command not in COMMANDS:
            self._metrics.telegram_ignored.labels(reason="unknown_command").inc()
            answer = f"Unknown command /{command[:20]}.\n{HELP}"
        else:
            try:
                answer = await self._run(command, rest.strip(), chat_id, client)
                outcome = "ok"
            except Refused as exc:
                answer, outcome = str(exc), "refused"
            self._metrics.telegram_commands.labels(command=command, outcome=outcome).inc()
        await self.send(chat_id, answer)
        return answer

    async def _run(self, command: str, argument: str, chat_id: str, client: str) -> str:
        action = f"TELEGRAM /{command}"
        if command == "help":
            return HELP
        if command in ("status", "balance", "positions"):
            self._audit_or_refuse(action, "ok", client)
            reader = {
                "status": self._controls.status,
                "balance": self._controls.balance,
                "positions": self._controls.positions,
            }
            return await reader[command]()
        if command == "stop":
            reason = argument[:200] or "stopped from Telegram"
            await self._switch(True, reason, action, client)
            return f"Kill switch ON ({reason}). No orders are sent. /resume turns it off."
        if command == "resume":
            code = f"{secrets.randbelow(1_000_000):06d}"
            self._pending[chat_id] = _Pending(code, self._clock() + self._confirm)
            self._audit_or_refuse(action, "confirmation asked", client)
            return f"Reply /confirm {code} within {int(self._confirm.total_seconds())} s to turn the kill switch off."
        if command == "confirm":
            pending = self._pending.pop(chat_id, None)
            if pending is None or self._clock() > pending.expires:
                self._audit_or_refuse(action, "refused: no resume waiting", client)
                raise Refused("No /resume is waiting for a confirmation (or it expired). Send /resume again.")
            if not secrets.compare_digest(argument, pending.code):
                self._audit_or_refuse(action, "refused: wrong code", client)
                raise Refused("Wrong confirmation code: nothing changed. Send /resume again.")
            await self._switch(False, "resumed from Telegram", "TELEGRAM /resume", client)
            return "Kill switch OFF. Trading resumes at the next cycle."
        if command == "pause":
            before = {"paused": self._controls.jobs_paused()}
            self._audit_or_refuse(action, "ok", client, before=before, after={"paused": True})
            self._controls.pause()
            return "Scheduled jobs paused. /resumejobs resumes them."
        # resumejobs
        before = {"paused": self._controls.jobs_paused()}
        self._audit_or_refuse(action, "ok", client, before=before, after={"paused": False})
        self._controls.resume_jobs()
        return "Scheduled jobs resumed."

    async def _switch(self, enabled: bool, reason: str, action: str, client: str) -> None:
        def audit(before: Any, after: Any) -> None:
            self._audit_or_refuse(action, "ok", client, before=before, after=after)

        try:
            await self._controls.kill_switch(enabled, reason, client, audit)
        except Refused:
            raise
        except Exception as exc:
            raise Refused(f"Nothing changed: {(str(exc) or type(exc).__name__).splitlines()[0]}") from None

    def _audit_or_refuse(
        self, action: str, outcome: str, client: str, *, before: Any = None, after: Any = None
    ) -> None:
        if not self._write_audit(action, outcome, client, before=before, after=after):
            raise Refused("The audit log cannot be written: nothing changed.")

    def _write_audit(self, action: str, outcome: str, client: str, *, before: Any = None, after: Any = None) -> bool:
        try:
            self._audit.write(action, outcome, client=client, before=before, after=after)
        except AuditWriteError as exc:
            self._metrics.audit_write_failures.inc()
            log.error("telegram command not audited", extra={"error": str(exc)})
            return False
        return True


def money(value: Decimal, quote: str) -> str:
    return f"{value.quantize(Decimal('0.01')):,} {quote}"


async def run_until_cancelled(control: TelegramControl) -> None:
    try:
        await control.loop()
    finally:
        with contextlib.suppress(Exception):
            await control.close()
