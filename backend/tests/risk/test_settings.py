"""config/risk.py: defaults, optional limits, bounds and the state location fail with the variable named."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from config.base import BACKEND_DIR
from config.risk import RiskSettings
from config.settings import ConfigError, load_settings


def risk(**env: str) -> RiskSettings:
    return load_settings({"risk": env}, env_file=False).risk


def test_defaults_match_the_spec() -> None:
    settings = risk()
    assert settings.max_notional_per_trade == Decimal(1000)
    assert settings.max_daily_loss == Decimal(500)
    assert settings.max_position_per_symbol is None
    assert settings.max_gross_exposure is None
    assert settings.kill_switch is False
    assert Path(settings.state_db) == BACKEND_DIR / "data" / "risk_state.db"


@pytest.mark.parametrize("value", ["", "0", "-5", "  "])
def test_optional_limits_are_off_when_unset_or_not_positive(value: str) -> None:
    settings = risk(QT_MAX_POSITION_PER_SYMBOL=value, QT_MAX_GROSS_EXPOSURE=value)
    assert settings.max_position_per_symbol is None
    assert settings.max_gross_exposure is None


def test_state_db_accepts_a_url_and_resolves_relative_paths() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/qt_risk"
    assert risk(QT_RISK_STATE_DB=url).state_db_url == url
    assert risk(QT_RISK_STATE_DB="data/x.db").state_db_url == f"sqlite:///{BACKEND_DIR / 'data' / 'x.db'}"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"QT_KILL_SWITCH": "maybe"}, "QT_KILL_SWITCH"),
        ({"QT_MAX_NOTIONAL_PER_TRADE": "0"}, "QT_MAX_NOTIONAL_PER_TRADE"),
        ({"QT_MAX_DAILY_LOSS": "lots"}, "QT_MAX_DAILY_LOSS"),
        ({"QT_MAX_PRICE_DEVIATION_PCT": "150"}, "QT_MAX_PRICE_DEVIATION_PCT"),
        ({"QT_MAX_PRICE_STALENESS_SECONDS": "-1"}, "QT_MAX_PRICE_STALENESS_SECONDS"),
        ({"QT_RISK_HALT_AFTER_FAILURES": "-1"}, "QT_RISK_HALT_AFTER_FAILURES"),
        ({"QT_RISK_STATE_DB": "postgresql+psycopg://u@h:notaport/db"}, "QT_RISK_STATE_DB"),
        ({"QT_SYMBOL_PRICE_BOUNDS": '{"BTCUSDT": {"min_price": 10, "max_price": 5}}'}, "QT_SYMBOL_PRICE_BOUNDS"),
        ({"QT_MIN_PRICE": "10", "QT_MAX_PRICE": "5"}, "QT_MIN_PRICE"),
    ],
)
def test_invalid_values_fail_naming_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as error:
        risk(**env)
    assert len(error.value.problems) == 1
    assert names in error.value.problems[0]
