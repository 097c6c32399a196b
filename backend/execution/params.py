"""The planner's knobs read from the settings: the service's cycle and the backtest both use this."""

from __future__ import annotations

from decimal import Decimal

from backend.execution.planner import PlanParams
from config.execution import ExchangeKind
from config.settings import Settings

# Slippage reserved on Binance (its book is not simulated): fills may walk this far.
BINANCE_SLIPPAGE_MARGIN_BPS = Decimal(50)


def plan_params_for(s: Settings) -> PlanParams:
    ex = s.execution
    slippage = ex.paper_max_slippage_bps if ex.exchange is ExchangeKind.PAPER else BINANCE_SLIPPAGE_MARGIN_BPS
    return PlanParams(
        min_notional=ex.min_notional,
        max_orders=ex.max_orders,
        cash_buffer=ex.cash_buffer,
        allow_partial=ex.allow_partial,
        max_notional_per_trade=s.risk.max_notional_per_trade,
        max_position_per_symbol=s.risk.max_position_per_symbol,
        cost_margin_bps=ex.paper_fee_bps + slippage,
        order_style=ex.order_style,
        max_slippage_bps=ex.max_slippage_bps,
        keep_assets=frozenset(ex.keep_assets),
        maker_timeout_seconds=ex.maker_timeout_seconds,
        maker_reprices=ex.maker_reprices,
        slice_notional=ex.slice_notional,
        slice_window_seconds=float(s.scheduler.execution_seconds or 1800),
    )
