"""The ledger's positions and cash valued at the service's latest marks: the portfolio view, the
cycle's closing valuation, and the exposure the risk guard shows (/risk) taken from the same figures."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from backend.execution.ledger_records import PositionView
from backend.execution.valuation import Portfolio, value_portfolio

if TYPE_CHECKING:
    from backend.execution.service import ExecutionService

log = logging.getLogger(__name__)


async def value_ledger(s: ExecutionService, *, refresh: bool) -> tuple[Portfolio, dict[str, PositionView]]:
    """The portfolio and the positions it was valued from (marks refreshed first when asked)."""
    if refresh:
        try:
            await s._refresh_market()
        except Exception as exc:  # show the last known marks rather than nothing
            log.warning("marks not refreshed for the portfolio view", extra={"error": str(exc)})
    sequence = s.guard.fill_sequence  # read before the ledger (see RiskContext)
    positions: dict[str, PositionView] = await s._db(s.ledger.positions)
    cash, contributed = await s._db(s.ledger.cash_and_contributed)
    portfolio = value_portfolio(
        exchange=s.exchange.name,
        quote_asset=s.ledger.quote,
        positions=positions,
        cash=cash,
        contributed=contributed,
        marks=s._marks,
        account=s._account,
        marks_as_of=s._marks_at,
    )
    # one figure for the exposure: the guard (/risk, risk_gross_exposure) sees what the ledger holds
    exposure = {p.symbol: p.market_value for p in portfolio.positions if p.quantity > 0}
    s.guard.observe_positions(exposure, now=s._clock(), fill_sequence=sequence)
    s._metrics.execution_gross_exposure.set(float(portfolio.gross_exposure))
    return portfolio, positions


__all__ = ["value_ledger"]
