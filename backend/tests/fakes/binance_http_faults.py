"""Switchable transport faults of the local Binance server: 5xx, stalls, 429/418, -1021, error payloads, bad JSON.

``server.faults`` plans them for the next N matching requests (by path, or any path), in the order
they were planned; ``answer(fault, release)`` turns the fault a request drew into Binance's answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from backend.tests.fakes.binance_protocol import BinanceAPIError

MALFORMED = object()  # marker: answer with a truncated, non-JSON body


@dataclass
class Fault:
    kind: str  # "status" | "stall" | "rate_limit" | "timestamp" | "error" | "malformed"
    remaining: int
    path: str | None = None  # None: any path
    status: int = 500
    retry_after: int = 0
    code: int = 0
    msg: str = ""


@dataclass
class Faults:
    """Faults applied to the next matching requests, in the order they were planned."""

    planned: list[Fault] = field(default_factory=list)
    clock_skew_ms: int = 0  # added to the server clock (a skew > recvWindow gives -1021)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int = 503, times: int = 1, path: str | None = None) -> None:
        self._plan(Fault("status", times, path, status=status))

    def stall(self, times: int = 1, path: str | None = None) -> None:
        """Hold the answer until the server stops (the client times out)."""
        self._plan(Fault("stall", times, path))

    def rate_limit(self, status: int = 429, retry_after: int = 30, times: int = 1, path: str | None = None) -> None:
        self._plan(Fault("rate_limit", times, path, status=status, retry_after=retry_after))

    def timestamp_error(self, times: int = 1, path: str | None = None) -> None:
        self._plan(Fault("timestamp", times, path, status=400))

    def error(self, code: int, msg: str, status: int = 400, times: int = 1, path: str | None = None) -> None:
        """Answer with one of Binance's error payloads, e.g. -1013 "Filter failure: LOT_SIZE"."""
        self._plan(Fault("error", times, path, status=status, code=code, msg=msg))

    def malformed(self, times: int = 1, path: str | None = None) -> None:
        """Answer 200 with a body that is not JSON (a broken proxy, a truncated response)."""
        self._plan(Fault("malformed", times, path, status=200))

    def clear(self) -> None:
        with self.lock:
            self.planned.clear()
            self.clock_skew_ms = 0

    def _plan(self, fault: Fault) -> None:
        with self.lock:
            self.planned.append(fault)

    def take(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.planned:
                if fault.path is None or fault.path == path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.planned.remove(fault)
                    return fault
        return None


def answer(fault: Fault, release: threading.Event) -> Any:
    """Raise the error answer the fault stands for (a stall first waits for `release`), or return
    MALFORMED for a body that is not JSON; None for a fault kind that changes nothing."""
    if fault.kind == "stall":
        release.wait(timeout=30)
        raise BinanceAPIError(503, -1001, "Internal error; unable to process your request. Please try again.")
    if fault.kind == "status":
        raise BinanceAPIError(fault.status, -1001, "Internal error; unable to process your request.")
    if fault.kind == "rate_limit":
        msg = (
            "Way too many requests; IP(127.0.0.1) banned until further notice."
            if fault.status == 418
            else "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute."
        )
        raise BinanceAPIError(fault.status, -1003, msg, {"Retry-After": str(fault.retry_after)})
    if fault.kind == "timestamp":
        raise BinanceAPIError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    if fault.kind == "error":
        raise BinanceAPIError(fault.status, fault.code, fault.msg)
    if fault.kind == "malformed":
        return MALFORMED
    return None
