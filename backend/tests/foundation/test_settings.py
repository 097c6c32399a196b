"""Every setting's validation: defaults load, bad values stop start-up with one line naming them."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from config.settings import SECTIONS, ConfigError, field_refs, load_settings

REPO_ROOT = Path(__file__).resolve().parents[3]

# One value each setting must refuse. Free-form strings (paths, URLs, hosts) have none; they are
# listed in FREE_FORM so a new setting cannot be forgotten here.
BAD_VALUES: dict[str, str] = {
    "QT_ENV": "prod",
    "QT_PORT": "70000",
    "QT_LOG_LEVEL": "LOUD",
    "QT_LOG_FORMAT": "xml",
    "QT_MAX_BODY_BYTES": "10",
    "QT_HEALTH_PROBE_SECONDS": "0",
    "DATABASE_URL": "not a url",
    "QT_DATABASE_READ_ONLY": "maybe",
    "QT_DB_BUSY_TIMEOUT_MS": "-1",
    "QT_AUTO_MIGRATE": "maybe",
    "QUANTUM_TRADER_DISABLE_SCHEDULER": "maybe",
    "QUANTUM_TRADER_REFRESH_SECONDS": "abc",
    "QUANTUM_TRADER_SYMBOLS": "BTC-USDT",
    "QUANTUM_TRADER_LIQUIDITY_REFRESH_SECONDS": "-5",
    "QUANTUM_TRADER_DISABLE_LIQUIDITY": "2",
    "QUANTUM_TRADER_EXECUTION_SECONDS": "1.5",
    "QUANTUM_TRADER_DISABLE_EXECUTION": "nope",
    "QT_PORTFOLIO_MARK_SECONDS": "3601",
    "QT_SCHEDULER_MISFIRE_GRACE_SECONDS": "0",
    "QT_SCHEDULER_LEADER_LOCK_KEY": "key",
    "QT_MARKET_DATA_SOURCE": "coinbase",
    "QT_SIM_SEED": "-1",
    "QT_BINANCE_TIMEOUT_SECONDS": "0",
    "QT_BINANCE_WEIGHT_BUDGET": "0",
    "QT_MARKET_KLINE_INTERVAL": "7m",
    "QT_MARKET_HISTORY_BARS": "5",
    "QT_MARKET_CACHE_TTL_SECONDS": "-1",
    "QT_MARKET_BREAKER_FAILURES": "0",
    "QT_MARKET_BREAKER_COOLDOWN_SECONDS": "-1",
    "QT_SENTIMENT_SOURCE": "twitter",
    "QT_REPLAY_SPREAD_BPS": "-1",
    "QT_KILL_SWITCH": "sometimes",
    "QT_MAX_NOTIONAL_PER_TRADE": "0",
    "QT_MAX_DAILY_LOSS": "lots",
    "QT_MAX_POSITION_PER_SYMBOL": "abc",
    "QT_MAX_GROSS_EXPOSURE": "abc",
    "QT_MAX_DRAWDOWN_PCT": "150",
    "QT_EXECUTION_ORDER_STYLE": "iceberg",
    "QT_EXECUTION_MAX_SLIPPAGE_BPS": "0",
    "QT_DRAWDOWN_WINDOW_DAYS": "0",
    "QT_SYMBOL_COOLDOWN_MINUTES": "-1",
    "QT_MAX_DAILY_TURNOVER": "lots",
    "QT_MAX_PRICE_DEVIATION_PCT": "101",
    "QT_MAX_PRICE_STALENESS_SECONDS": "0",
    "QT_MIN_PRICE": "0",
    "QT_MAX_PRICE": "-1",
    "QT_SYMBOL_PRICE_BOUNDS": '{"BTCUSDT": {"min_price": 5, "max_price": 1}}',
    "QT_RISK_HALT_AFTER_FAILURES": "-1",
    "QT_LIQUIDITY_QUOTE_ASSETS": "US-DT",
    "QT_LIQUIDITY_MIN_QUOTE_VOLUME": "-1",
    "QT_LIQUIDITY_MAX_SPREAD_BPS": "0",
    "QT_LIQUIDITY_MIN_PRICE": "-1",
    "QT_LIQUIDITY_MAX_PRICE": "0",
    "QT_LIQUIDITY_MIN_LISTING_DAYS": "-1",
    "QT_LIQUIDITY_BLACKLIST": "B@D",
    "QT_LIQUIDITY_WHITELIST": "B@D",
    "QT_LIQUIDITY_UNIVERSE_MAX": "0",
    "QT_LIQUIDITY_SELECTION_MIN": "0",
    "QT_LIQUIDITY_SELECTION_MAX": "0",
    "QT_LIQUIDITY_LIQ_WEIGHT": "-1",
    "QT_LIQUIDITY_MODEL_WEIGHT": "-1",
    "QT_LIQUIDITY_MODEL_SELL_THRESHOLD": "1.5",
    "QT_LIQUIDITY_MAX_PER_BASE": "-1",
    "QT_LIQUIDITY_MAX_WEIGHT": "0",
    "QT_LIQUIDITY_STABLECOINS": "US$D",
    "QT_LIQUIDITY_SPREAD_PENALTY": "-1",
    "QT_LIQUIDITY_FILTERS": "status,nope",
    "QT_EXECUTION_EXCHANGE": "kraken",
    "QT_EXECUTION_QUOTE_ASSET": "U$D",
    "QT_EXECUTION_MIN_NOTIONAL": "-1",
    "QT_EXECUTION_MAX_ORDERS": "0",
    "QT_EXECUTION_CASH_BUFFER": "-1",
    "QT_EXECUTION_UNKNOWN_GRACE_SECONDS": "-5",
    "QT_EXECUTION_KEEP_ASSETS": "B@D",
    "QT_EXECUTION_ALLOW_PARTIAL": "perhaps",
    "QT_EXECUTION_BINANCE_TESTNET": "perhaps",
    "QT_BINANCE_RECV_WINDOW_MS": "60001",
    "QT_EXECUTION_LIVE_CONFIRM": "perhaps",
    "QT_PAPER_STARTING_CASH": "0",
    "QT_PAPER_FEE_BPS": "-1",
    "QT_PAPER_MAX_SLIPPAGE_BPS": "0",
    "QT_PAPER_MAKER_FEE_BPS": "-1",
    "QT_PAPER_FILL_VOLUME_SHARE": "1.5",
    "QT_PAPER_ORDER_TTL_SECONDS": "-1",
    "QT_EXECUTION_MAKER_TIMEOUT_SECONDS": "-1",
    "QT_EXECUTION_MAKER_REPRICES": "21",
    "QT_EXECUTION_RESTING_CHECK_SECONDS": "-1",
    "QT_EXECUTION_SLICE_NOTIONAL": "-1",
    "QT_KILL_SWITCH_CANCELS_OPEN": "perhaps",
    "QT_SNAPSHOT_RETENTION_DAYS": "-1",
    "QT_MODEL_INTERVAL": "2m",
    "QT_MODEL_HORIZON_BARS": "0",
    "QT_MODEL_LABEL_THRESHOLD": "1",
    "QT_MODEL_KEEP_VERSIONS": "0",
    "QT_MODEL_MAX_AGE_HOURS": "-1",
    "QT_ADMIN_AUTH_DISABLED": "perhaps",
    "QT_LIMIT_CONCURRENCY": "0",
    "QT_BACKLOG": "0",
    "QT_HEADER_READ_TIMEOUT_SECONDS": "0",
    "QT_MAX_SYMBOLS": "0",
    "QT_ADMIN_AUDIT_MAX_BYTES": "10",
    "QT_ADMIN_AUDIT_BACKUPS": "0",
    "QT_MODEL_AUTO_TRAIN": "perhaps",
    "QT_MODEL_LABEL_VOL_SCALED": "perhaps",
    "QT_MODEL_ECONOMIC_GATE": "perhaps",
    "QT_MODEL_RETRAIN_HOURS": "-1",
    "QT_MODEL_SHADOW_BARS": "0",
    "QT_MODEL_CYCLE_CHECK_SECONDS": "0",
    "QT_MODEL_TRAIN_DAYS": "0",
    "QT_MODEL_FOLDS": "0",
    "QT_MODEL_EMBARGO_BARS": "-1",
    "QT_MODEL_SEED": "-1",
    "QT_MODEL_BOOST_ROUNDS": "0",
    "QT_MODEL_MAX_DEPTH": "0",
    "QT_MODEL_LEARNING_RATE": "0",
    "QT_MODEL_THREADS": "0",
    "QT_NOTIFY_EVENTS": "kill_switch.maybe",
    "QT_NOTIFY_POLL_SECONDS": "0",
    "QT_NOTIFY_MAX_ATTEMPTS": "0",
    "QT_NOTIFY_RETRY_SECONDS": "0",
    "QT_NOTIFY_TIMEOUT_SECONDS": "0",
    "QT_NOTIFY_RATE_PER_MINUTE": "0",
    "QT_NOTIFY_MAX_AGE_SECONDS": "10",
    "QT_NOTIFY_SUMMARY_HOUR": "24",
    "QT_NOTIFY_SLACK_BASE_URL": "hooks.slack.com/services",
    "QT_NOTIFY_DISCORD_BASE_URL": "ftp://discord.example",
    "QT_TELEGRAM_API_URL": "api.telegram.org",
    "QT_TELEGRAM_ALLOWED_CHATS": "@my_channel",
    "QT_TELEGRAM_POLL_SECONDS": "51",
    "QT_TELEGRAM_CONFIRM_SECONDS": "1",
}

FREE_FORM = {
    "QT_HOST",
    "QT_ADMIN_TOKEN",
    "QT_ADMIN_AUDIT_PATH",
    "QT_TRADES_LOG_PATH",
    "QT_CORS_ORIGINS",
    "QT_ALLOWED_HOSTS",
    "QT_FORWARDED_ALLOW_IPS",
    "DB_USER",
    "DB_PASS",
    "QT_BINANCE_API_URL",
    "QT_REPLAY_DIR",
    "QT_SENTIMENT_URL",
    "QT_RISK_STATE_DB",
    "QT_BINANCE_API_KEY",
    "QT_BINANCE_API_SECRET",
    "QT_MODEL_ARTIFACTS_DIR",
    "QT_MODEL_TRAIN_SYMBOLS",
    "QT_NOTIFY_URLS",  # checked when the channels are built: a wrong entry stops the start-up
    "QT_NOTIFY_WEBHOOK_SECRET",
    "QT_NOTIFY_CA_FILE",
    "QT_TELEGRAM_BOT_TOKEN",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for env in field_refs():
        monkeypatch.delenv(env, raising=False)
    return monkeypatch


def test_every_setting_has_a_validation_case() -> None:
    known = set(BAD_VALUES) | FREE_FORM
    assert set(field_refs()) - known == set(), "add new settings to BAD_VALUES or FREE_FORM"
    assert known - set(field_refs()) == set(), "a setting in the table no longer exists"


def test_defaults_match_the_spec(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(env_file=False)
    assert settings.scheduler.refresh_seconds == 180
    assert settings.scheduler.symbols == ["BTCUSDT", "ETHUSDT"]
    assert settings.scheduler.liquidity_refresh_seconds == 900
    assert settings.scheduler.execution_seconds == 1800
    assert settings.liquidity.model_sell_threshold == 0.55
    assert settings.liquidity.max_per_base == 1
    assert settings.execution.min_notional == Decimal("50")
    assert settings.execution.max_orders == 10
    assert settings.execution.cash_buffer == Decimal("0")
    assert settings.execution.allow_partial is True
    assert settings.execution.exchange == "paper"
    assert settings.execution.quote_asset == "USDT"
    assert settings.execution.binance_testnet is False
    assert settings.risk.max_notional_per_trade == Decimal("1000")
    assert settings.risk.max_daily_loss == Decimal("500")
    assert settings.risk.max_position_per_symbol is None
    assert settings.risk.max_gross_exposure is None
    assert settings.app.host == "127.0.0.1"
    assert settings.app.port == 8000
    assert settings.database.url == f"sqlite:///{REPO_ROOT / 'backend' / 'quantum_trader.db'}"
    assert settings.risk.state_db == str(REPO_ROOT / "backend" / "data" / "risk_state.db")
    assert settings.app.admin_audit_path == REPO_ROOT / "backend" / "data" / "admin_audit.log"
    assert settings.liquidity_quote_assets == ["USDT"]


@pytest.mark.parametrize(("env", "value"), sorted(BAD_VALUES.items()))
def test_bad_value_names_the_variable(clean_env: pytest.MonkeyPatch, env: str, value: str) -> None:
    clean_env.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=False)
    assert len(info.value.problems) == 1
    assert env in info.value.problems[0]


@pytest.mark.parametrize(
    ("env", "value", "section", "field", "expected"),
    [
        ("QUANTUM_TRADER_SYMBOLS", " btcusdt, solusdt ,btcusdt", "scheduler", "symbols", ["BTCUSDT", "SOLUSDT"]),
        ("QT_MAX_POSITION_PER_SYMBOL", "0", "risk", "max_position_per_symbol", None),
        ("QT_MAX_GROSS_EXPOSURE", "-5", "risk", "max_gross_exposure", None),
        ("QT_MAX_GROSS_EXPOSURE", "2500.50", "risk", "max_gross_exposure", Decimal("2500.50")),
        ("QUANTUM_TRADER_DISABLE_SCHEDULER", "1", "scheduler", "disabled", True),
        ("QT_RISK_STATE_DB", "data/other.db", "risk", "state_db", str(REPO_ROOT / "backend/data/other.db")),
        ("QT_RISK_STATE_DB", "backend/data/other.db", "risk", "state_db", str(REPO_ROOT / "backend/data/other.db")),
        ("DATABASE_URL", "postgresql://u@h/db", "database", "url", "postgresql+psycopg://u@h/db"),
        ("QT_EXECUTION_QUOTE_ASSET", "usdc", "execution", "quote_asset", "USDC"),
    ],
)
def test_values_are_normalised(
    clean_env: pytest.MonkeyPatch, env: str, value: str, section: str, field: str, expected: object
) -> None:
    clean_env.setenv(env, value)
    settings = load_settings(env_file=False)
    assert getattr(getattr(settings, section), field) == expected


@pytest.mark.parametrize("env", ["staging", "production"])
@pytest.mark.parametrize(("token", "fragment"), [("", "is empty"), ("x" * 31, "31 characters")])
def test_outside_development_a_weak_admin_token_refuses_to_start(
    clean_env: pytest.MonkeyPatch, env: str, token: str, fragment: str
) -> None:
    clean_env.setenv("QT_ENV", env)
    clean_env.setenv("QT_ADMIN_TOKEN", token)
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=False)
    assert "QT_ADMIN_TOKEN" in info.value.problems[0]
    assert fragment in info.value.problems[0]


def test_production_accepts_a_long_token(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("QT_ENV", "production")
    clean_env.setenv("QT_ADMIN_TOKEN", "Zq7-xWm2_Lp9vRt4Kc8Nh1Bd6Fg3Js5Ya0")
    assert load_settings(env_file=False).app.admin_auth_enabled


def test_binance_execution_needs_keys_and_live_confirmation(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("QT_EXECUTION_EXCHANGE", "binance")
    with pytest.raises(ConfigError, match="QT_BINANCE_API_KEY"):
        load_settings(env_file=False)
    clean_env.setenv("QT_BINANCE_API_KEY", "k")
    clean_env.setenv("QT_BINANCE_API_SECRET", "s")
    load_settings(env_file=False)  # development: keys are enough
    clean_env.setenv("QT_ENV", "staging")
    clean_env.setenv("QT_ADMIN_TOKEN", "Zq7-xWm2_Lp9vRt4Kc8Nh1Bd6Fg3Js5Ya0-Ue4Oi")
    with pytest.raises(ConfigError, match="QT_EXECUTION_LIVE_CONFIRM"):
        load_settings(env_file=False)
    clean_env.setenv("QT_EXECUTION_BINANCE_TESTNET", "1")
    load_settings(env_file=False)  # testnet needs no live confirmation


def test_secret_values_never_appear_in_errors(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("QT_ENV", "production")
    clean_env.setenv("QT_ADMIN_TOKEN", "hunter2-short")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=False)
    assert "hunter2" not in str(info.value)


def test_replay_source_requires_a_directory(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("QT_MARKET_DATA_SOURCE", "replay")
    with pytest.raises(ConfigError, match="QT_REPLAY_DIR"):
        load_settings(env_file=False)


def test_every_field_reads_its_documented_variable() -> None:
    for section in SECTIONS.values():
        for name, info in section.model_fields.items():
            assert info.alias, f"{section.__name__}.{name} has no environment name"
            assert info.description, f"{info.alias} has no description"


@pytest.mark.slow
def test_launcher_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "QUANTUM_TRADER_REFRESH_SECONDS": "abc", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "backend", "--check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "QUANTUM_TRADER_REFRESH_SECONDS='abc'" in lines[0]
