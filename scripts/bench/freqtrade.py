"""freqtrade's own backtesting on the same bars, side by side with ours (``make bench`` when present).

freqtrade comes from PyPI into a venv of its own (``make freqtrade-venv``: .venv-freqtrade, not
committed; none of the project's code imports it). It runs offline: the bars are written in its
JSON data format to a scratch user_data folder, and the markets it loads at start-up (ccxt's
``load_markets``: Binance's exchangeInfo) are served from 127.0.0.1 by a small HTTP server here,
built from the replay source's rules of the same files. The strategy is two EMAs (12/26) crossing,
long only, on the same ten BTC-quoted 5-minute pairs. The figure is candles per second of the whole
``freqtrade backtesting`` process, start-up included, as for ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from backend.market.sources.replay import ReplayMarketSource
from backend.tests.fakes.binance_shapes import symbol_json

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-freqtrade"
EXECUTABLE = VENV / "bin" / "freqtrade"
LAST_CPU = [0.0]  # CPU seconds of the last run

STRATEGY = """
import talib.abstract as ta
from freqtrade.strategy import IStrategy


class TwoEma(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 100}
    stoploss = -0.99
    process_only_new_candles = True
    startup_candle_count = 26

    def populate_indicators(self, dataframe, metadata):
        dataframe["fast"] = ta.EMA(dataframe, timeperiod=12)
        dataframe["slow"] = ta.EMA(dataframe, timeperiod=26)
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["fast"] > dataframe["slow"], "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["fast"] < dataframe["slow"], "exit_long"] = 1
        return dataframe
"""


def available() -> bool:
    return EXECUTABLE.is_file()


def _markets_server(folder: Path) -> ThreadingHTTPServer:
    rules = ReplayMarketSource(folder).symbol_rules()

    def entry(r: Any) -> dict[str, Any]:
        # the replay source infers no maxima (0); ccxt would read 0 as "at most 0" and freqtrade
        # would size every stake to nothing
        data = symbol_json(r)
        for f in data["filters"]:
            for key, value in f.items():
                if key.startswith("max") and value == "0.00000000":
                    f[key] = "9000000.00000000"
        return {**data, "permissions": ["SPOT"], "permissionSets": [["SPOT"]]}

    info = {
        "timezone": "UTC",
        "serverTime": 0,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": [entry(r) for r in rules.values()],
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return None

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path.endswith("/exchangeInfo"):
                body: Any = {**info, "serverTime": int(time.time() * 1000)}
            elif path.endswith("/time"):
                body = {"serverTime": int(time.time() * 1000)}
            else:
                body = {}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _write_data(folder: Path, datadir: Path) -> tuple[list[str], int]:
    datadir.mkdir(parents=True, exist_ok=True)
    pairs, candles = [], 0
    for path in sorted(folder.glob("*.csv")):
        symbol = path.stem.upper()
        base, quote = symbol[:-3], symbol[-3:]
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            t, o, h, lo, c, v = line.split(",")[:6]
            rows.append([int(t), float(o), float(h), float(lo), float(c), float(v)])
        (datadir / f"{base}_{quote}-5m.json").write_text(json.dumps(rows), encoding="utf-8")
        pairs.append(f"{base}/{quote}")
        candles += len(rows)
    return pairs, candles


def run(folder: Path) -> tuple[float, int, str]:
    """(seconds of the whole process, candles, its last lines) of freqtrade backtesting on ``folder``."""
    tmp = Path(tempfile.mkdtemp(prefix="qt-bench-freqtrade-"))
    user = tmp / "user_data"
    (user / "strategies").mkdir(parents=True)
    (user / "strategies" / "two_ema.py").write_text(STRATEGY, encoding="utf-8")
    pairs, candles = _write_data(folder, user / "data" / "binance")
    server = _markets_server(folder)
    host, port = server.server_address[:2]
    api = f"http://{host!s}:{port}/api/v3"
    config = {
        "max_open_trades": len(pairs),
        "stake_currency": "BTC",
        "stake_amount": "unlimited",
        "dry_run": True,
        "dry_run_wallet": 1,
        "timeframe": "5m",
        "trading_mode": "spot",
        "exchange": {
            "name": "binance",
            "pair_whitelist": pairs,
            "ccxt_config": {
                "urls": {"api": {"public": api, "private": api, "v3": api, "sapi": api}},
                "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
            },
            "ccxt_async_config": {
                "urls": {"api": {"public": api, "private": api, "v3": api, "sapi": api}},
                "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
            },
        },
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {"price_side": "same", "use_order_book": False},
        "exit_pricing": {"price_side": "same", "use_order_book": False},
        "dataformat_ohlcv": "json",
        "user_data_dir": str(user),
    }
    (tmp / "config.json").write_text(json.dumps(config), encoding="utf-8")
    started = time.perf_counter()
    try:
        with tempfile.TemporaryFile("w+") as log:
            proc = subprocess.Popen(
                [str(EXECUTABLE), "backtesting", "--config", str(tmp / "config.json"), "--strategy", "TwoEma"],
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
            _pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            log.seek(0)
            output = log.read().strip()
    finally:
        server.shutdown()
    seconds = time.perf_counter() - started
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        raise RuntimeError(f"freqtrade backtesting failed ({proc.returncode}): {output[-600:]}")
    return seconds, candles, output


def version() -> str:
    done = subprocess.run([str(EXECUTABLE), "--version"], capture_output=True, text=True, check=False, timeout=120)
    for line in done.stdout.splitlines():
        if line.startswith("Freqtrade Version"):
            return line.split()[-1]
    return "?"
