"""A local server speaking the Telegram Bot API's documented shapes: getUpdates (long poll) and sendMessage.

Tests queue messages with ``api.say(chat_id, text)`` and read the bot's answers in ``api.sent``.
Requests for another bot token answer 401 like Telegram does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeBotAPI:
    token: str
    url: str = ""
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    confirmed: int = 0  # the highest offset the bot confirmed
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _next_id: int = 1000

    def say(self, chat_id: int, text: str, *, age_seconds: float = 0) -> int:
        """A user in ``chat_id`` sends ``text``; returns the update id."""
        with self._cond:
            update_id = self._next_id
            self._next_id += 1
            self.updates.append(
                {
                    "update_id": update_id,
                    "message": {
                        "message_id": update_id,
                        "date": int(time.time() - age_seconds),
                        "chat": {"id": chat_id, "type": "private"},
                        "from": {"id": chat_id, "is_bot": False, "first_name": "Operator"},
                        "text": text,
                    },
                }
            )
            self._cond.notify_all()
        return update_id

    def answers(self, chat_id: int, count: int, timeout: float = 10.0) -> list[str]:
        """Wait for ``count`` answers to ``chat_id``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                texts = [m["text"] for m in self.sent if str(m["chat_id"]) == str(chat_id)]
                if len(texts) >= count or time.monotonic() > deadline:
                    return texts
                self._cond.wait(0.05)

    def wait_confirmed(self, update_id: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.confirmed <= update_id and time.monotonic() < deadline:
                self._cond.wait(0.05)
            return self.confirmed > update_id

    def get_updates(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(body.get("offset") or 0)
        wait = min(float(body.get("timeout") or 0), 1.0)  # long poll, shortened for tests
        deadline = time.monotonic() + wait
        with self._cond:
            if offset:
                self.confirmed = max(self.confirmed, offset)
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                self._cond.notify_all()
            while not self.updates and time.monotonic() < deadline:
                self._cond.wait(0.05)
            return list(self.updates)

    def send_message(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            self.sent.append(body)
            self._cond.notify_all()
        return {
            "message_id": len(self.sent),
            "chat": {"id": body["chat_id"]},
            "date": int(time.time()),
            "text": body["text"],
        }


def _handler(api: FakeBotAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            prefix = f"/bot{api.token}/"
            if not self.path.startswith(prefix):
                self._answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                return
            method = self.path[len(prefix) :]
            if method == "getUpdates":
                self._answer(200, {"ok": True, "result": api.get_updates(body)})
            elif method == "sendMessage":
                self._answer(200, {"ok": True, "result": api.send_message(body)})
            else:
                self._answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                return

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def fake_bot_api(token: str) -> Iterator[FakeBotAPI]:
    api = FakeBotAPI(token=token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
