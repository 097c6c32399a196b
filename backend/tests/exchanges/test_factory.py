from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backend.exchanges.binance import BinanceExchange
from backend.exchanges.factory import build_exchange
from backend.exchanges.paper import PaperExchange
from backend.observability.metrics import Metrics
from backend.tests.conftest import SettingsFactory
from config.settings import ConfigError


async def _none(*_args: Any) -> Any:
    return None


def _build(settings: Any) -> Any:
    # called inside a running event loop, as the lifespan does: python-binance's constructor then
    # reuses that loop instead of creating (and leaking) one of its own
    return build_exchange(
        lambda: settings,
        sessions=None,  # type: ignore[arg-type]
        book=_none,
        rules=_none,
        metrics=Metrics(),
        clock=lambda: datetime.now(UTC),
    )


async def test_paper_is_the_default(make_settings: SettingsFactory) -> None:
    assert isinstance(_build(make_settings()), PaperExchange)


@pytest.mark.parametrize(
    ("extra", "url"),
    [
        ({"QT_EXECUTION_BINANCE_TESTNET": "1"}, "https://testnet.binance.vision/api"),
        ({}, "https://api.binance.com/api"),
    ],
)
async def test_binance_with_keys_routes_to_testnet_or_live(
    make_settings: SettingsFactory, extra: dict[str, str], url: str
) -> None:
    settings = make_settings(
        execution={"QT_EXECUTION_EXCHANGE": "binance", "QT_BINANCE_API_KEY": "k", "QT_BINANCE_API_SECRET": "s", **extra}
    )
    exchange = _build(settings)
    assert isinstance(exchange, BinanceExchange)
    assert exchange.url == url


async def test_binance_api_url_overrides_the_testnet(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        execution={
            "QT_EXECUTION_EXCHANGE": "binance",
            "QT_EXECUTION_BINANCE_TESTNET": "1",
            "QT_BINANCE_API_KEY": "k",
            "QT_BINANCE_API_SECRET": "s",
        },
        market={"QT_BINANCE_API_URL": "http://127.0.0.1:9"},
    )
    assert _build(settings).url == "http://127.0.0.1:9/api"


@pytest.mark.parametrize(
    ("env", "execution", "needle"),
    [
        ("development", {}, "QT_BINANCE_API_KEY and QT_BINANCE_API_SECRET are required"),
        ("production", {"QT_BINANCE_API_KEY": "k", "QT_BINANCE_API_SECRET": "s"}, "QT_EXECUTION_LIVE_CONFIRM=1"),
    ],
)
def test_live_trading_refuses_to_start_without_keys_or_confirmation(
    make_settings: SettingsFactory, env: str, execution: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(
            app={"QT_ENV": env, "QT_ADMIN_TOKEN": "x" * 40},
            execution={"QT_EXECUTION_EXCHANGE": "binance", **execution},
        )
    assert any(needle in problem for problem in caught.value.problems)
