"""How a backtest runs: its event loop (work the services hand to threads, ``asyncio.to_thread``,
runs at once, in order, so a run is deterministic and pays no thread hand-off or loop wake-up per
call) and, in a process of its own, its garbage collector's settings."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class InlineExecutor(ThreadPoolExecutor):
    """The loop's default executor in a backtest: ``asyncio.to_thread`` work runs at once, in order.

    The services hand blocking work (database, source reads) to threads so the live API never
    stalls; a backtest has nothing else to serve, and running that work inline makes every run
    deterministic and spares a thread hand-off per call.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class InlineLoop(asyncio.SelectorEventLoop):
    """The event loop of a blocking run: ``asyncio.to_thread`` work runs at once and its future is
    already done, so awaiting it does not even pass through the loop (a backtest makes thousands of
    such calls per simulated day; each would otherwise cost a wake-up of the loop)."""

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:  # type: ignore[override]
        if executor is not None:
            return super().run_in_executor(executor, func, *args)
        future = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


def tune_collector() -> None:
    """For a process that runs one backtest (the CLI, the worker of POST /backtests): the start-up
    heap (modules, settings, the data) is frozen out of the collector's scans, and the youngest
    generation is collected every 50,000 allocations instead of 700. A run allocates millions of
    short-lived objects (Decimals, rows, records) that reference counting frees; the default
    thresholds made the collector rescan the long-lived heap thousands of times for almost no
    cycles. Results are unchanged; not for the service's own process."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
