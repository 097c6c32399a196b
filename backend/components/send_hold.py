"""A test hook, off unless QT_TEST_HOLD_BEFORE_SEND_DIR is set: hold an order between save and send.

The process-level failover proof (backend/tests/proving/test_failover_fencing.py) needs the leader to
stop after its orders are saved and before the first one is sent. With the variable set to a
directory, the execution service calls this hook right before it proves leadership and claims an
order (``ExecutionService._fence``): while ``<dir>/hold`` exists, it writes the order's client id to
``<dir>/held`` and waits until ``hold`` is removed (at most MAX_HOLD_SECONDS). Without ``hold`` the
hook returns at once. No operator setting: a start-up warning says the hook is on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)
ENV = "QT_TEST_HOLD_BEFORE_SEND_DIR"
MAX_HOLD_SECONDS = 300.0
POLL_SECONDS = 0.05


def hold_before_send(environ: Mapping[str, str] = os.environ) -> Callable[[str], Awaitable[None]] | None:
    raw = environ.get(ENV, "").strip()
    if not raw:
        return None
    directory = Path(raw)
    log.warning("test hook %s is set: orders may be held between save and send", ENV, extra={"dir": raw})

    async def hold(client_order_id: str) -> None:
        gate = directory / "hold"
        if not gate.exists():
            return
        marker, tmp = directory / "held", directory / "held.tmp"
        tmp.write_text(client_order_id)
        tmp.replace(marker)  # the test reads a whole id or nothing
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        try:
            while gate.exists() and time.monotonic() < deadline:  # noqa: ASYNC110  (a file another process removes)
                await asyncio.sleep(POLL_SECONDS)
        finally:
            marker.unlink(missing_ok=True)

    return hold
