"""metrics.json and the report say what shaped the run: every setting applied, the fee charged, the symbol held."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from backend.backtest.engine import BacktestConfig, run_backtest
from backend.backtest.output import write_outputs
from backend.tests.backtest.factories import START, backtest_settings, replay, write_market

FIRST = START + timedelta(days=1)


def test_the_outputs_record_every_setting_applied_the_fee_and_the_symbol_held(tmp_path: Path) -> None:
    # parameters.settings listed only the run's own overrides: the environment that decided the
    # result (here its liquidity and risk settings) was nowhere, fee_bps was null, hold_first unnamed
    data, clock = replay(write_market(tmp_path / "m"), FIRST)
    settings = backtest_settings(tmp_path, liquidity={"QT_LIQUIDITY_QUOTE_ASSETS": "USDT,FDUSD"})
    result = run_backtest(BacktestConfig(start=FIRST, end=FIRST + timedelta(hours=12)), data, clock, settings=settings)
    write_outputs(result, tmp_path / "out")
    params = json.loads((tmp_path / "out" / "metrics.json").read_text())["parameters"]
    assert params["fee_bps"] == float(settings.execution.paper_fee_bps)
    assert params["hold_first"] == "DDDUSDT"
    assert params["retrain_days"] is None
    applied = params["applied"]
    assert {k: applied[k] for k in ("QT_LIQUIDITY_MIN_QUOTE_VOLUME", "QT_MAX_NOTIONAL_PER_TRADE")} == {
        "QT_LIQUIDITY_MIN_QUOTE_VOLUME": "0",
        "QT_MAX_NOTIONAL_PER_TRADE": "100000",
    }
    assert applied["QT_LIQUIDITY_QUOTE_ASSETS"] == ["USDT", "FDUSD"]
    assert applied["QT_MARKET_KLINE_INTERVAL"] == "1h"  # set by the run
    assert set(params["settings"]) <= set(applied)
    assert not {k for k in applied if k.startswith(("QT_ADMIN", "DATABASE", "QT_NOTIFY"))}
    assert "QT_LIQUIDITY_MAX_SPREAD_BPS" not in applied  # at its default
    # the report is public: no place on the host (both are set here), no secret
    assert not {"QT_RISK_STATE_DB", "QT_MODEL_ARTIFACTS_DIR"} & set(applied)
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<code>QT_MAX_NOTIONAL_PER_TRADE=100000</code>" in page
    assert "<code>QT_MARKET_KLINE_INTERVAL=1h</code> (set by the run)" in page
