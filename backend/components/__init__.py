"""Components: each builds one domain's services in the lifespan and registers its jobs.

A component is an async context manager taking the AppContext: it builds, yields while the app
runs, and closes what it built. They run in this order (later ones may use earlier services).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from backend.components import backtest, execution, liquidity, market, model, notify, risk
from backend.context import AppContext

Component = Callable[[AppContext], AbstractAsyncContextManager[None]]

COMPONENTS: list[Component] = [
    market.component,
    risk.component,
    notify.component,
    model.component,
    liquidity.component,
    execution.component,
    backtest.component,
]
