"""Run the local Binance server (market + account/order endpoints) as its own process.

``python -m backend.tests.fakes.binance_process --port P --state FILE [--die-after-accept N]``
prints ``READY <url>`` once it listens on 127.0.0.1:P, and keeps its account in FILE, so a test can
kill it (or let it die right after accepting an order) and start it again on the same port.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from backend.market.sources.simulated import SimulatedMarket
from backend.tests.fakes.binance_account import MatchingEngine, install
from backend.tests.fakes.binance_server import FakeBinance


class PortServer(FakeBinance):
    """FakeBinance on a chosen port (a restarted process must keep the client's URL)."""

    def serve_on(self, port: int) -> ThreadingHTTPServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _serve(self) -> None:
                server._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        ThreadingHTTPServer.allow_reuse_address = True
        httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        httpd.daemon_threads = True
        return httpd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cash", default="10000")
    parser.add_argument("--die-after-accept", type=int, default=0)
    args = parser.parse_args(argv)

    market = SimulatedMarket(args.seed)
    server = PortServer(market)
    engine = MatchingEngine.load_or_create(args.state, {"USDT": Decimal(args.cash)})
    engine.die_after_accept = args.die_after_accept
    engine.save()
    install(server, engine)
    httpd = server.serve_on(args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    print(f"READY http://127.0.0.1:{args.port}", flush=True)
    stop.wait()
    httpd.shutdown()
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
