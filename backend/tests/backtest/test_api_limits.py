"""/backtests against a careless or hostile admin: bounded runs, cancelling, one audit line per
outcome, no path or secret of the host in what is served or handed to the worker."""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.backtest import curves
from backend.backtest.data import MAX_BARS, bar_count
from backend.backtest.service import BacktestService
from backend.backtest.worker import decode_settings, encode_settings, worker_environment
from backend.tests.backtest.factories import BODY, wait_done
from backend.tests.backtest.test_store_interrupted import needs_proc, worker_lookalike
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory

# a simulated run of hours: cancelled long before it ends
LONG = {"source": "simulated", "end": "2030-01-01T00:00:00Z", "baselines": []}


def audit_lines(tmp_path: Path, action: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    return [line for line in lines if line["action"] == action]


def test_a_range_of_more_bars_than_a_run_may_visit_is_refused_before_it_is_queued(
    backtest_client: Any, tmp_path: Path
) -> None:
    # it was queued, and the worker listed every 1-minute bar to the year 9000 (3 GB in 22 s)
    client = backtest_client
    body = {"source": "simulated", "interval": "1m", "end": "2027-01-01T00:00:00Z", "baselines": []}
    response = client.post("/backtests", json=body, headers=ADMIN_HEADERS)
    assert response.status_code == 422, response.text
    assert f"bars of 1m: at most {MAX_BARS:,} a run" in response.json()["detail"]
    for baselines in (["equal_weight", "equal_weight"], ["equal_weight"] * 300):
        response = client.post("/backtests", json={**BODY, "baselines": baselines}, headers=ADMIN_HEADERS)
        assert response.status_code == 422, response.text  # each copy built another book
    assert client.get("/backtests").json()["total"] == 0
    assert next(a["outcome"] for a in audit_lines(tmp_path, "POST /backtests")).startswith("refused: range")


def test_a_simulated_run_ending_past_the_markets_last_day_is_refused_before_it_is_queued(
    backtest_client: Any,
) -> None:
    # 24 bars, but the simulated market makes every day from 2024 to the end first: hours and GBs
    body = {"source": "simulated", "start": "9999-12-30T00:00:00Z", "end": "9999-12-31T00:00:00Z", "baselines": []}
    response = backtest_client.post("/backtests", json=body, headers=ADMIN_HEADERS)
    assert response.status_code == 422, response.text
    assert "is past the simulated market's last day 2034-01-01" in response.json()["detail"]


@needs_proc
def test_an_admin_cancels_a_run_whose_worker_outlived_a_restart_of_the_service(backtest_client: Any) -> None:
    # its worker lives on (a session of its own) but the new service has no handle on it: 409, and
    # every start refused while it runs
    client = backtest_client
    store = client.app.state.ctx.services["backtests"].store
    run_id = store.create({"source": "replay"}, None).id
    orphan = worker_lookalike(run_id)
    try:
        assert store.start(run_id, orphan.pid, "/nonexistent")
        cancelled = client.post(f"/backtests/{run_id}/cancel", headers=ADMIN_HEADERS)
        assert cancelled.status_code == 200, cancelled.text
        assert orphan.wait(timeout=60) == -signal.SIGTERM
    finally:
        orphan.kill()
        orphan.wait()
    assert client.get(f"/backtests/{run_id}").json()["status"] == "failed"


def test_the_cli_refuses_a_range_of_more_bars_than_a_run_may_visit(capsys: pytest.CaptureFixture[str]) -> None:
    from backend.backtest.cli import main

    assert main(["--source", "simulated", "--interval", "1m", "--end", "2027-01-01", "--baselines", "none"]) == 2
    assert f"at most {MAX_BARS:,} a run" in capsys.readouterr().err


@given(
    start=st.integers(0, 10**6),
    length=st.integers(0, 5000),
    seconds=st.sampled_from([60, 300, 3600, 86400]),
)
def test_the_bar_count_is_the_number_of_bar_closes_listed(start: int, length: int, seconds: int) -> None:
    begin = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=start)
    end = begin + timedelta(seconds=length * 7)
    listed, moment = 0, begin
    offset = int(begin.timestamp()) % seconds
    if offset:
        moment += timedelta(seconds=seconds - offset)
    while moment <= end:
        listed, moment = listed + 1, moment + timedelta(seconds=seconds)
    assert bar_count(begin, end, timedelta(seconds=seconds)) == listed


def test_a_time_past_the_last_utc_datetime_is_a_422_not_a_500(backtest_client: Any, tmp_path: Path) -> None:
    client = backtest_client
    for body in ({**BODY, "end": "9999-12-31T23:59:59-05:00"}, {**BODY, "start": "0001-01-01T00:00:00+05:00"}):
        response = client.post("/backtests", json=body, headers=ADMIN_HEADERS)
        assert response.status_code == 422, response.text
        assert "out of range in UTC" in response.text
    assert len(audit_lines(tmp_path, "POST /backtests")) == 2  # a 500 was not audited


def test_a_start_refused_by_the_services_own_check_is_audited_once_as_refused(
    backtest_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two POSTs at once: both passed the route's check, the second was refused by the service's
    # locked one, and the audit log said "ok" for it as well as "refused"
    client = backtest_client
    service: BacktestService = client.app.state.ctx.services["backtests"]
    start = service.start

    async def another_request_first(request: Any, requested_by: str | None) -> Any:
        service.store.start(service.store.create({"source": "replay"}, None).id, os.getpid(), "/elsewhere")
        return await start(request, requested_by)

    monkeypatch.setattr(service, "start", another_request_first)
    response = client.post("/backtests", json=BODY, headers=ADMIN_HEADERS)
    assert response.status_code == 409, response.text
    assert [a["outcome"] for a in audit_lines(tmp_path, "POST /backtests")] == ["refused: 409"]


def test_an_admin_cancels_a_running_backtest_and_its_worker_stops(backtest_client: Any, tmp_path: Path) -> None:
    client = backtest_client
    started = client.post("/backtests", json=LONG, headers=ADMIN_HEADERS)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    service: BacktestService = client.app.state.ctx.services["backtests"]
    pid = service._processes[run_id].pid
    environ = Path(f"/proc/{pid}/environ")
    if environ.exists():  # the worker's environment holds no admin token (the service's does)
        assert b"QT_ADMIN_TOKEN=" not in environ.read_bytes()
    assert client.post(f"/backtests/{run_id}/cancel").status_code == 401
    cancelled = client.post(f"/backtests/{run_id}/cancel", headers=ADMIN_HEADERS)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["error"]) == (
        "failed",
        f"cancelled (POST /backtests/{run_id}/cancel)",
    )
    deadline = time.monotonic() + 60
    while run_id in service._processes and time.monotonic() < deadline:  # the watcher reaps the worker
        time.sleep(0.1)
    assert run_id not in service._processes
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert client.get(f"/backtests/{run_id}").json()["error"].startswith("cancelled")  # not the watcher's words
    again = client.post(f"/backtests/{run_id}/cancel", headers=ADMIN_HEADERS)
    assert again.status_code == 409
    assert "is failed: nothing to cancel" in again.json()["detail"]
    assert client.post("/backtests/12345/cancel", headers=ADMIN_HEADERS).status_code == 404
    outcomes = [a["outcome"] for a in audit_lines(tmp_path, f"POST /backtests/{run_id}/cancel")]
    assert [o for o in outcomes if "token" not in o] == ["ok", "refused: 409"]  # (and the 401's)
    assert client.post("/backtests", json=BODY, headers=ADMIN_HEADERS).status_code == 202  # the slot is free


def test_a_replay_runs_public_record_names_the_folder_and_never_its_path(backtest_client: Any) -> None:
    client = backtest_client
    folder = client.app.state.ctx.settings.current.market.replay_dir
    done = wait_done(client, client.post("/backtests", json=BODY, headers=ADMIN_HEADERS).json()["id"])
    assert done["status"] == "completed", done["error"]
    assert done["data_range"]["data"] == "replay:market"
    report = client.get(done["report_url"]).text
    for served in (json.dumps(client.get("/backtests").json()), json.dumps(done), report):
        assert str(folder) not in served
    late = {**BODY, "end": "2030-01-01T00:00:00Z"}  # beyond the files: the run fails in the worker
    failed = wait_done(client, client.post("/backtests", json=late, headers=ADMIN_HEADERS).json()["id"])
    assert "is not covered by replay:market" in failed["error"]
    (folder / "DDDUSDT.csv").write_text((folder / "DDDUSDT.csv").read_text() + "1,2,3\n")
    broken = wait_done(client, client.post("/backtests", json=BODY, headers=ADMIN_HEADERS).json()["id"])
    assert broken["status"] == "failed"
    assert "QT_REPLAY_DIR" in broken["error"]
    assert str(folder) not in broken["error"]


def test_the_worker_is_handed_the_databases_secret_and_no_other(make_settings: SettingsFactory) -> None:
    secrets = {
        "app": {"QT_ADMIN_TOKEN": "a-long-admin-token-of-the-service-0123456789"},
        "database": {"DB_PASS": "db-password"},
        "execution": {"QT_BINANCE_API_KEY": "binance-key", "QT_BINANCE_API_SECRET": "binance-secret"},
        "notify": {"QT_NOTIFY_TELEGRAM_BOT_TOKEN": "123:telegram", "QT_NOTIFY_WEBHOOK_SECRET": "hook-secret"},
    }
    settings = make_settings(**secrets)
    sent = encode_settings(settings)
    for _section, values in secrets.items():
        for name, value in values.items():
            assert (value.encode() in sent) == (name == "DB_PASS"), name
    received = decode_settings(sent)
    assert received.database.password is not None
    assert received.database.password.get_secret_value() == "db-password"
    assert received.app.admin_token.get_secret_value() == ""  # not even from the environment or backend/.env
    assert received.execution.binance_api_secret is None
    assert received.risk == settings.risk
    assert received.liquidity == settings.liquidity
    environ = {"PATH": "/usr/bin", "QT_ADMIN_TOKEN": "t", "QT_BINANCE_API_SECRET": "s", "QT_MAX_DAILY_LOSS": "5"}
    assert worker_environment(environ) == {"PATH": "/usr/bin", "QT_MAX_DAILY_LOSS": "5"}


def write_equity(path: Path, books: tuple[str, ...], rows: int) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["time", "book", "equity", "cash", "gross_exposure", "drawdown"])
        for i in range(rows):
            for n, book in enumerate(books):
                out.writerow([(start + timedelta(hours=i)).isoformat(), book, f"{1000 + i * (n + 1)}.5", 0, 0, 0])


def test_a_runs_curves_are_read_once_and_hold_only_the_points_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every GET /backtests/{id}/equity parsed the whole file into Decimals (a public route)
    path = tmp_path / "equity.csv"
    write_equity(path, ("equal_weight", "strategy", "hold_first"), 1001)
    reads: list[Path] = []
    rows = curves._rows
    monkeypatch.setattr(curves, "_rows", lambda p: reads.append(p) or rows(p))
    got = curves.read_curves(path, 5)
    assert [c.book for c in got] == ["strategy", "equal_weight", "hold_first"]
    strategy = got[0]
    assert (strategy.points_in_run, strategy.step, len(strategy.points)) == (1001, 250, 5)
    assert [e for _t, e in strategy.points] == [Decimal(f"{1000 + i * 2}.5") for i in (0, 250, 500, 750, 1000)]
    passes = len(reads)
    assert curves.read_curves(path, 5) == got
    assert [len(c.points) for c in curves.read_curves(path, 7)] == [7, 7, 7]  # another size, from memory too
    assert len(reads) == passes  # answered from memory
    write_equity(path, ("strategy",), 12_001)  # longer than the most served: thinned once to at most 5,000
    (longest,) = curves.read_curves(path, curves.MAX_POINTS)
    assert (longest.points_in_run, len(longest.points), longest.step) == (12_001, 4001, 3)  # every 3rd
    assert [e for _t, e in longest.points][:: len(longest.points) - 1] == [Decimal("1000.5"), Decimal("13000.5")]
    (few,) = curves.read_curves(path, 3)
    assert [e for _t, e in few.points] == [Decimal("1000.5"), longest.points[2000][1], Decimal("13000.5")]
    write_equity(path, ("strategy",), 3)  # a new file at the same path is read again
    assert curves.read_curves(path, 5)[0].points_in_run == 3
    assert len(reads) > passes


def test_a_runs_record_says_why_it_traded_nothing(backtest_client: Any) -> None:
    # every book at 0 % and the reason only in metrics.json: the API and the page said nothing
    client = backtest_client
    body = {**BODY, "settings": {"QT_LIQUIDITY_QUOTE_ASSETS": "BTC"}}  # the market's pairs are USDT
    done = wait_done(client, client.post("/backtests", json=body, headers=ADMIN_HEADERS).json()["id"])
    assert done["status"] == "completed", done["error"]
    assert any(w.startswith("the universe filters selected nothing at every one of") for w in done["warnings"])
    assert "quote USDT not in BTC" in " ".join(done["warnings"])
    plain = wait_done(client, client.post("/backtests", json=BODY, headers=ADMIN_HEADERS).json()["id"])
    assert plain["warnings"] == []
