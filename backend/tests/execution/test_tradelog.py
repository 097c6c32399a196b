"""The trades log: one JSON line per event in its file, or none at all (a backtest), listeners either way."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from backend.execution.tradelog import TradesLog
from backend.tests.execution.fakes import NOW


def test_each_event_is_one_json_line_and_every_listener_hears_it(tmp_path: Path) -> None:
    heard: list[tuple[str, dict[str, Any]]] = []
    log = TradesLog(tmp_path / "logs" / "trades.log")
    log.subscribe(lambda _time, event, fields: heard.append((event, fields)))
    log.write(NOW, "order_planned", symbol="BTCUSDT", quantity=Decimal("0.00100000"))
    log.close()
    lines = (tmp_path / "logs" / "trades.log").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"time": NOW.isoformat(), "event": "order_planned", "symbol": "BTCUSDT", "quantity": "0.00100000"}
    ]
    assert heard == [("order_planned", {"symbol": "BTCUSDT", "quantity": Decimal("0.00100000")})]


def test_without_a_path_nothing_is_written_and_the_listeners_still_hear(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    heard: list[str] = []
    log = TradesLog(None)
    log.subscribe(lambda _time, event, _fields: heard.append(event))
    log.write(NOW, "order_filled", symbol="BTCUSDT")
    log.close()
    assert heard == ["order_filled"]
    assert list(tmp_path.iterdir()) == []
