"""The backtest worker process: ``python -m backend.backtest.worker RUN_ID`` (started by the service).

It runs one backtest off the API's process, so neither requests nor the trading jobs wait for it.
The service's effective settings (environment plus run-time overrides) arrive as JSON on stdin
(`encode_settings`: data, never code, so the worker runs nothing it reads),
so the run trades under exactly the settings the service trades under; the request and the
results live in the run's backtest_runs row; the files go to the run's folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from backend.backtest.data import BacktestInputError
from backend.backtest.inline import tune_collector
from backend.backtest.output import write_outputs
from backend.backtest.request import BacktestRequest, data_range, execute
from backend.backtest.store import BacktestStore
from config.settings import SECTIONS, Settings, field_refs
from database.session import make_engine, make_session_factory

log = logging.getLogger("backend.backtest.worker")


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()  # the pipe is private to the two processes
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | Path | datetime):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"setting value of type {type(value).__name__} has no JSON form")


# The one secret a run needs: the database's password (the run's record is there). The admin
# token, the exchange's keys and the notifiers' secrets never reach the worker.
WORKER_SECRETS = frozenset({"DB_PASS"})


def withheld_secrets() -> dict[str, str]:
    """The secrets the worker is not given, by environment name: their section."""
    return {env: ref.section for env, ref in field_refs().items() if ref.secret and env not in WORKER_SECRETS}


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: the service's without the secrets it withholds (its settings come on stdin)."""
    withheld = withheld_secrets()
    return {name: value for name, value in environ.items() if name not in withheld}


def encode_settings(settings: Settings) -> bytes:
    """The settings as JSON for the worker's stdin (``decode_settings`` reverses it), the secrets a
    run does not need replaced by their defaults (none, or empty)."""
    data = settings.model_dump(mode="python", by_alias=True)
    refs = field_refs()
    for env, section in withheld_secrets().items():
        # sent as the default, not left out: a section reads what it is not given from backend/.env
        data[section][env] = SECTIONS[section].model_fields[refs[env].field].default
    return json.dumps(data, default=_plain).encode()


def decode_settings(data: bytes) -> Settings:
    """Settings validated from ``encode_settings``' JSON, as strictly as the service validated them."""
    return Settings.model_validate(json.loads(data))


def failure_message(exc: BaseException) -> str:
    """One line for the run's record in the request's words: bad input (the CLI's messages name
    its flags, --interval) names the body's fields (interval); anything else keeps its class."""
    if isinstance(exc, BacktestInputError):
        flag = r"(?<![\w/.-])--([a-z][a-z-]*)"  # a flag, not two dashes inside a path or a name
        return re.sub(flag, lambda m: m.group(1).replace("-", "_"), str(exc)).splitlines()[0]
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def run(run_id: int, settings: Settings, out_dir: Path) -> int:
    engine = make_engine(settings.database.effective_url)
    store = BacktestStore(make_session_factory(engine), lambda: datetime.now(UTC))
    try:
        view = store.get(run_id)
        if view is None:
            print(f"backtest worker: no run {run_id}", file=sys.stderr)
            return 2
        if not store.start(run_id, os.getpid(), str(out_dir)):
            print(f"backtest worker: run {run_id} is no longer queued (cancelled?): not run", file=sys.stderr)
            return 1
        try:
            request = BacktestRequest.model_validate(view.params)
            result, seconds = execute(request, settings)
            content = write_outputs(result, out_dir)
        except Exception as exc:
            message = failure_message(exc)
            if settings.market.replay_dir is not None:  # the record is public: no path of the host
                message = message.replace(str(settings.market.replay_dir), "QT_REPLAY_DIR")
            store.fail(run_id, message)
            print(f"backtest worker: run {run_id} failed: {message}", file=sys.stderr)
            return 1
        if not store.complete(run_id, metrics=content["metrics"], data_range=data_range(result), seconds=seconds):
            print(
                f"backtest worker: run {run_id} was cancelled as it finished; its files stay in {out_dir}",
                file=sys.stderr,
            )
            return 1
        return 0
    finally:
        engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit():
        print("usage: python -m backend.backtest.worker RUN_ID OUT_DIR  (settings as JSON on stdin)", file=sys.stderr)
        return 2
    try:
        settings = decode_settings(sys.stdin.buffer.read())
    except (ValueError, ValidationError) as exc:
        print(f"backtest worker: stdin does not hold the service's settings: {type(exc).__name__}", file=sys.stderr)
        return 2
    tune_collector()
    return run(int(argv[0]), settings, Path(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
