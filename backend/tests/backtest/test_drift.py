"""The drift report: the service's real jobs record what each cycle traded on; replaying those
snapshots reproduces the ledger exactly, and one fill changed in the ledger is reported, with its cause."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.backtest.cli import main
from backend.backtest.clock import BacktestClock
from backend.backtest.drift import compare_live, format_report
from backend.main import create_app
from backend.tests.backtest.factories import BACKTEST_ENV, START, write_market
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory
from config.settings import Settings
from database.models.execution import FillRecord, Order
from database.models.snapshots import MarketSnapshotRecord

STEP = timedelta(hours=1)
FIRST_VISIT = START + timedelta(days=1) + STEP
BARS = 12
Operator = Callable[[TestClient, int], None]  # what an operator does at bar index i, before its jobs


def _environment(tmp_path: Path) -> dict[str, dict[str, str]]:
    folder = write_market(tmp_path / "market", bars=60)
    sections: dict[str, dict[str, str]] = {name: dict(values) for name, values in BACKTEST_ENV.items()}
    sections["market"] = {
        "QT_MARKET_DATA_SOURCE": "replay",
        "QT_REPLAY_DIR": str(folder),
        "QT_MARKET_KLINE_INTERVAL": "1h",
        "QT_MARKET_CACHE_TTL_SECONDS": "3599",
    }
    sections["execution"]["QT_SNAPSHOT_RETENTION_DAYS"] = "7"
    return sections


def _trade_live(
    make_settings: SettingsFactory,
    sections: dict[str, dict[str, str]],
    *,
    prune_at: datetime | None = None,
    operator: Operator | None = None,
) -> tuple[Settings, sessionmaker[Session]]:
    settings = make_settings(**sections)
    clock = BacktestClock(FIRST_VISIT - STEP)
    client = TestClient(create_app(settings, clock=clock))
    with client:
        runner = client.app.state.ctx.runner  # type: ignore[attr-defined]
        for index in range(BARS):
            clock.set(FIRST_VISIT + STEP * index)
            if operator is not None:
                operator(client, index)
            client.portal.call(runner.run_now, "market-cache-refresh")  # type: ignore[union-attr]
            if index % 3 == 0:
                client.portal.call(runner.run_now, "liquidity-refresh")  # type: ignore[union-attr]
            if index % 2 == 0:
                client.portal.call(runner.run_now, "execution-rebalance")  # type: ignore[union-attr]
        if prune_at is not None:
            clock.set(prune_at)
            client.portal.call(runner.run_now, "snapshot-prune")  # type: ignore[union-attr]
        sessions: sessionmaker[Session] = client.app.state.ctx.sessions  # type: ignore[attr-defined]
    return settings, sessions


def test_replaying_the_recorded_snapshots_reproduces_the_ledger_and_finds_a_changed_fill(
    make_settings: SettingsFactory, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sections = _environment(tmp_path)
    env = {k: v for values in sections.values() for k, v in values.items()}
    settings, sessions = _trade_live(make_settings, sections)
    with sessions() as session:
        recorded = session.scalar(select(func.count()).select_from(MarketSnapshotRecord))
        fills = list(session.scalars(select(FillRecord).order_by(FillRecord.id)))
    assert recorded == BARS // 2  # one row per rebalance cycle
    assert len(fills) >= 4  # a period that trades, not a vacuous agreement
    start, end = FIRST_VISIT - STEP, FIRST_VISIT + STEP * BARS

    clean = compare_live(settings, sessions, start, end)
    assert clean.cycles == BARS // 2
    assert clean.differences == []
    assert clean.live == clean.replay
    assert clean.live["fills"] == len(fills)

    # one fill of the ledger no longer says what the fill model did on the recorded book
    changed = fills[len(fills) // 2]
    new_price = changed.price * Decimal("1.001")
    with sessions.begin() as session:
        session.execute(update(FillRecord).where(FillRecord.id == changed.id).values(price=new_price))
    drift = compare_live(settings, sessions, start, end)
    assert len(drift.differences) == 1
    only = drift.differences[0]
    assert only.kind == "fill"
    assert changed.client_order_id is not None
    assert changed.client_order_id in only.subject
    assert changed.trade_id in only.subject
    assert only.fields["price"] == (format(new_price, "f"), format(changed.price, "f"))
    assert set(only.fields) == {"price", "slippage_bps"}
    assert "not what the paper fill model gives on the order book this cycle recorded" in only.cause

    # the CLI prints the same report, from the service's environment (DATABASE_URL and every QT_ variable)
    for name, value in {**env, "DATABASE_URL": settings.database.effective_url}.items():
        monkeypatch.setenv(name, value)
    code = main(["--compare-live", "--start", start.isoformat(), "--end", end.isoformat(), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 difference:" in out
    assert only.subject in out
    assert "cause: the ledger's fill is not what the paper fill model gives" in out
    written = json.loads((tmp_path / "drift.json").read_text(encoding="utf-8"))
    assert [d["subject"] for d in written["differences"]] == [only.subject]


def test_the_prune_job_deletes_snapshots_older_than_the_retention(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    # cycles at bars 0, 2, 4, ...; seven days (QT_SNAPSHOT_RETENTION_DAYS) after bar 4 the first two go
    prune_at = FIRST_VISIT + STEP * 4 + timedelta(days=7)
    _settings, sessions = _trade_live(make_settings, _environment(tmp_path), prune_at=prune_at)
    with sessions() as session:
        left = sorted(session.scalars(select(MarketSnapshotRecord.taken_at)))
    assert left == [FIRST_VISIT + STEP * i for i in range(4, BARS, 2)]
    assert left[0].tzinfo is not None


def test_a_setting_changed_at_run_time_between_cycles_is_replayed_as_the_live_cycles_had_it(
    make_settings: SettingsFactory,
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the reviewer's scenario: after the cycles of bars 0, 2 and 4 the operator caps the notional per
    # trade (and narrows the whitelist, refreshing the selection) through PUT /settings; the cycles
    # of bars 6, 8 and 10 trade under the override. The replay, run with the service's environment
    # (which knows nothing of the override), must still find no difference.
    cap = Decimal(60)
    changes = {"QT_MAX_NOTIONAL_PER_TRADE": "60", "QT_LIQUIDITY_WHITELIST": "AAAUSDT,BBBUSDT,CCCUSDT"}

    def operator(client: TestClient, index: int) -> None:
        if index == 5:
            assert client.put("/settings", json=changes, headers=ADMIN_HEADERS).status_code == 200
            assert client.post("/liquidity/refresh", headers=ADMIN_HEADERS).status_code == 200

    sections = _environment(tmp_path)
    env = {k: v for values in sections.values() for k, v in values.items()}
    settings, sessions = _trade_live(make_settings, sections, operator=operator)
    override_at = FIRST_VISIT + STEP * 5
    with sessions() as session:
        orders = list(session.scalars(select(Order).order_by(Order.id)))
        payloads = list(session.scalars(select(MarketSnapshotRecord.payload).order_by(MarketSnapshotRecord.taken_at)))
    # each cycle recorded the overrides in force when it ran, and the trading settings the environment sets
    assert [p["settings"]["overrides"] for p in payloads] == [{}] * 3 + [changes] * 3
    assert payloads[0]["settings"]["trading"]["QT_MAX_NOTIONAL_PER_TRADE"] == "100000"
    assert payloads[-1]["settings"]["trading"]["QT_MAX_NOTIONAL_PER_TRADE"] == "60"
    before = [o for o in orders if o.created_at.replace(tzinfo=override_at.tzinfo) < override_at]
    after = [o for o in orders if o.created_at.replace(tzinfo=override_at.tzinfo) >= override_at]
    # not vacuous: the environment's limit let bigger orders through, the override cut later ones
    assert any(o.requested_quantity * (o.reference_price or 0) > cap for o in before)
    assert not any("QT_MAX_NOTIONAL_PER_TRADE" in (o.note or "") for o in before)
    assert any("cut to QT_MAX_NOTIONAL_PER_TRADE" in (o.note or "") for o in after)
    assert all(o.requested_quantity * (o.reference_price or 0) <= cap for o in after)
    start, end = FIRST_VISIT - STEP, FIRST_VISIT + STEP * BARS

    report = compare_live(settings, sessions, start, end)
    assert report.cycles == BARS // 2
    assert report.differences == []
    assert report.live == report.replay
    assert report.live["orders"] == len(orders)
    text = format_report(report)
    assert "settings overridden at run time during the period:" in text
    assert "QT_MAX_NOTIONAL_PER_TRADE=60" in text

    # replayed with another environment than the service's, the differences name the setting, not the fill
    other = make_settings(**{**sections, "risk": {**sections["risk"], "QT_MAX_NOTIONAL_PER_TRADE": "200"}})
    wrong = compare_live(other, sessions, start, end)
    first = [d for d in wrong.differences if d.time < override_at]
    assert first
    named = "the settings differ from the live cycle's: QT_MAX_NOTIONAL_PER_TRADE live 100000 / replay 200"
    orders_and_fills = [d for d in first if d.kind != "state"]
    assert orders_and_fills
    assert all(d.cause.startswith(named) for d in orders_and_fills)
    assert not any("fill model" in d.cause for d in wrong.differences)
    assert any("QT_MAX_NOTIONAL_PER_TRADE live 100000 / replay 200" in line for line in wrong.settings)

    # the CLI, from the service's environment, on a period that starts after the day's first fills (the
    # replay's risk guard is seeded with them): the report alone, no warning about restoring risk records
    for name, value in {**env, "DATABASE_URL": settings.database.effective_url}.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    caplog.clear()
    code = main(["--compare-live", "--start", (FIRST_VISIT + STEP).isoformat(), "--end", end.isoformat()])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith("compare-live ")
    assert f"{BARS // 2 - 1} recorded cycles replayed" in out
    assert "no difference" in out
    assert "QT_MAX_NOTIONAL_PER_TRADE=60" in out
    assert "risk records restored" not in out + err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "risk records" in r.getMessage()]


def test_a_snapshot_recorded_without_its_settings_still_replays_on_the_environment(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    # rows recorded before the cycles' settings were: no "settings" key in the payload
    settings, sessions = _trade_live(make_settings, _environment(tmp_path))
    with sessions.begin() as session:
        rows = list(session.scalars(select(MarketSnapshotRecord).order_by(MarketSnapshotRecord.taken_at)))
        for row in rows:
            row.payload = {k: v for k, v in row.payload.items() if k != "settings"}
    with sessions() as session:
        assert all("settings" not in p for p in session.scalars(select(MarketSnapshotRecord.payload)))
    start, end = FIRST_VISIT - STEP, FIRST_VISIT + STEP * BARS
    report = compare_live(settings, sessions, start, end)
    assert report.cycles == BARS // 2
    assert report.differences == []
    assert report.live == report.replay
    assert "settings overridden" not in format_report(report)
    assert report.settings == [
        f"{BARS // 2} cycles recorded without their settings (cycles {rows[0].run_id}..{rows[-1].run_id}): "
        "replayed with the environment's alone"
    ]


def test_a_recorded_override_this_environment_refuses_does_not_drop_the_cycle_s_others(
    make_settings: SettingsFactory,
) -> None:
    # one invalid recorded override made the replay apply none of that cycle's overrides
    from backend.backtest.drift import CycleSettings
    from config.runtime import SettingsHolder

    holder = SettingsHolder(make_settings(**BACKTEST_ENV))
    in_force = CycleSettings(holder)
    recorded = {"overrides": {"QT_MAX_NOTIONAL_PER_TRADE": "60", "QT_MAX_DAILY_LOSS": "-5"}, "trading": {}}
    in_force.apply(recorded, (0, 7, START))
    assert holder.current.risk.max_notional_per_trade == Decimal(60)
    assert holder.overrides == {"QT_MAX_NOTIONAL_PER_TRADE": "60"}
    (refused,) = [line for line in in_force.lines() if line.startswith("recorded overrides not applied")]
    assert "QT_MAX_DAILY_LOSS" in refused
    assert "cycle 7" in refused
