"""Wiring: the job's schedule switches, start-up refusal of an unusable chain, restart, current_symbols."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from backend.tests.conftest import ADMIN_HEADERS
from backend.tests.liquidity.factories import FakeMarket
from config.settings import ConfigError, Settings

JOB = "liquidity-refresh"


@pytest.mark.parametrize(
    ("scheduler", "trigger", "enabled"),
    [
        ({}, "interval[900s]", True),
        ({"QUANTUM_TRADER_LIQUIDITY_REFRESH_SECONDS": "60"}, "interval[60s]", True),
        ({"QUANTUM_TRADER_LIQUIDITY_REFRESH_SECONDS": "0"}, "not scheduled", True),
        ({"QUANTUM_TRADER_DISABLE_LIQUIDITY": "1"}, "not scheduled", False),
    ],
)
def test_job_cadence_and_switches(
    client_for: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    scheduler: dict[str, str],
    trigger: str,
    enabled: bool,
) -> None:
    settings = make_settings(scheduler={"QUANTUM_TRADER_DISABLE_SCHEDULER": True, **scheduler})
    client = client_for(settings)
    job = client.get("/health/scheduler").json()["jobs"][JOB]
    assert (job["trigger"], job["enabled"]) == (trigger, enabled)


def test_disabled_job_still_runs_on_demand(
    client_for: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        scheduler={"QUANTUM_TRADER_DISABLE_SCHEDULER": True, "QUANTUM_TRADER_DISABLE_LIQUIDITY": "1"}
    )
    client = client_for(settings)
    client.app.state.ctx.services["market"] = FakeMarket()
    client.app.state.ctx.services["predictor"] = None
    assert client.post("/liquidity/refresh", headers=ADMIN_HEADERS).json()["job"]["status"] == "ok"


def test_unusable_filter_chain_stops_start_up(client_for: Callable[[Settings], Any], settings: Settings) -> None:
    # settings built in code can skip the section's validation; the component re-checks the chain
    broken = settings.model_copy(
        update={"liquidity": settings.liquidity.model_copy(update={"filters": ["status", "no_such_filter"]})}
    )
    with pytest.raises(ConfigError, match="QT_LIQUIDITY_FILTERS: unknown filter 'no_such_filter'"):
        client_for(broken)


def test_selection_survives_a_restart(client_for: Callable[[Settings], Any], settings: Settings) -> None:
    first = client_for(settings)
    first.app.state.ctx.services["market"] = FakeMarket()
    first.app.state.ctx.services["predictor"] = None
    run = first.post("/liquidity/refresh", headers=ADMIN_HEADERS).json()["run"]
    first.portal.call(first.app.state.ctx.runner.shutdown)
    first.__exit__(None, None, None)

    second = client_for(settings)
    service = second.app.state.ctx.services["liquidity"]
    assert service.current_symbols() == list(run["weights"])
    assert second.get("/liquidity", headers=ADMIN_HEADERS).json()["selection"] == run
