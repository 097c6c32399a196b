"""uvicorn's HTTP protocol with a deadline on the request head, against slow-header clients.

uvicorn bounds idle keep-alive connections (``timeout_keep_alive``) and the size of a head, but not
the time a client may take to send it: a connection that sends ``GET / HTTP/1.1\\r\\nX-a: `` and then
a byte a minute (or nothing at all after connecting) stays open for good, and each one counts
against ``--limit-concurrency``. This subclass of the protocol uvicorn would pick (httptools when
installed, else h11) starts a timer when a connection opens and when a new request head begins;
the timer stops once the head is complete. When it fires the client gets ``408 Request Timeout``
and the connection is closed. Bodies are not covered: their size is bounded by QT_MAX_BODY_BYTES
and the route reads them at its own pace.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is part of uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment, misc]

log = logging.getLogger(__name__)

RESPONSE_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 27\r\nconnection: close\r\n\r\nrequest head not completed"
    b"\n"
)


class _HeadDeadline:
    """The timer logic shared by both protocols; ``_waiting_for_head`` says whether a head is due."""

    head_timeout_seconds: float = 10.0
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    client: Any
    _head_timer: asyncio.TimerHandle | None = None

    def _waiting_for_head(self) -> bool:
        raise NotImplementedError

    def _update_head_timer(self) -> None:
        waiting = self._waiting_for_head() and not self.transport.is_closing()
        if waiting and self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._head_timed_out)
        elif not waiting and self._head_timer is not None:
            self._cancel_head_timer()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._waiting_for_head():
            return
        log.warning("request head not completed in time; connection closed", extra={"client": _peer(self.client)})
        if self.cycle is None or self.cycle.response_complete:  # no response of ours is being written
            self.transport.write(RESPONSE_408)
        self.transport.close()


def _peer(client: Any) -> str:
    return f"{client[0]}:{client[1]}" if client else "unknown"


class H11HeadDeadline(_HeadDeadline, H11Protocol):
    def _waiting_for_head(self) -> bool:
        import h11

        return bool(self.conn.their_state is h11.IDLE)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._update_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._update_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._update_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


if HttpToolsProtocol is not None:

    class HttpToolsHeadDeadline(_HeadDeadline, HttpToolsProtocol):
        _head_pending = True  # a new connection owes a head

        def _waiting_for_head(self) -> bool:
            return self._head_pending

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_pending = True
            self._update_head_timer()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_pending = True
            self._update_head_timer()

        def on_headers_complete(self) -> None:
            self._head_pending = False
            self._cancel_head_timer()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            # an idle keep-alive connection owes nothing until its next head begins: uvicorn's
            # keep-alive timeout closes it
            super().on_response_complete()
            self._update_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)


def protocol_class(head_timeout_seconds: float) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn (``http=``): the one it would pick, with the deadline."""
    base: type[_HeadDeadline] = HttpToolsHeadDeadline if HttpToolsProtocol is not None else H11HeadDeadline
    return type(base.__name__, (base,), {"head_timeout_seconds": head_timeout_seconds})
