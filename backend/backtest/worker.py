"""The backtest worker process: ``python -m backend.backtest.worker RUN_ID`` (started by the service).

It runs one backtest off the API's process, so neither requests nor the trading jobs wait for it.
The service's effective settings (environment plus run-time overrides) arrive pickled on stdin,
so the run trades under exactly the settings the service trades under; the request and the
results live in the run's backtest_runs row; the files go to the run's folder.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from datetime import UTC, datetime
from pathlib import Path

from backend.backtest.output import write_outputs
from backend.backtest.request import BacktestRequest, data_range, execute
from backend.backtest.store import BacktestStore
from config.settings import Settings
from database.session import make_engine, make_session_factory

log = logging.getLogger("backend.backtest.worker")


def run(run_id: int, settings: Settings, out_dir: Path) -> int:
    engine = make_engine(settings.database.effective_url)
    store = BacktestStore(make_session_factory(engine), lambda: datetime.now(UTC))
    try:
        view = store.get(run_id)
        if view is None:
            print(f"backtest worker: no run {run_id}", file=sys.stderr)
            return 2
        store.start(run_id, os.getpid(), str(out_dir))
        try:
            request = BacktestRequest.model_validate(view.params)
            result, seconds = execute(request, settings)
            content = write_outputs(result, out_dir)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            store.fail(run_id, message)
            print(f"backtest worker: run {run_id} failed: {message}", file=sys.stderr)
            return 1
        store.complete(run_id, metrics=content["metrics"], data_range=data_range(result), seconds=seconds)
        return 0
    finally:
        engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit():
        print("usage: python -m backend.backtest.worker RUN_ID OUT_DIR  (settings pickled on stdin)", file=sys.stderr)
        return 2
    settings = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 (written by our own service, through a pipe)
    if not isinstance(settings, Settings):
        print("backtest worker: stdin does not hold the service's settings", file=sys.stderr)
        return 2
    return run(int(argv[0]), settings, Path(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
