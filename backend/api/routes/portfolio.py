"""Portfolio endpoints (admin): the portfolio at mark, and the order and fill history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import AdminDep, ExecutionServiceDep
from backend.api.schemas.base import UtcDatetime
from backend.api.schemas.portfolio import BalanceOut, FillOut, OrderOut, PortfolioResponse, PositionOut, TradesResponse

router = APIRouter(tags=["portfolio"])


@router.get("/portfolio", response_model=PortfolioResponse)
async def get_portfolio(_caller: AdminDep, service: ExecutionServiceDep) -> PortfolioResponse:
    """Balances, positions (average cost, mark, unrealised and realised PnL), equity and exposure."""
    p = await service.portfolio()
    return PortfolioResponse(
        exchange=p.exchange,
        quote_asset=p.quote_asset,
        cash=p.cash,
        equity=p.equity,
        gross_exposure=p.gross_exposure,
        realised_pnl=p.realised_pnl,
        unrealised_pnl=p.unrealised_pnl,
        fees_paid=p.fees_paid,
        contributed=p.contributed,
        positions=[
            PositionOut.model_validate(v, from_attributes=True).model_copy(
                update={"dust": service.dust_of(v.symbol, v.quantity, v.mark)}
            )
            for v in p.positions
        ],
        balances=[BalanceOut(asset=a, free=b["free"], locked=b["locked"]) for a, b in p.balances.items()],
        balances_as_of=p.balances_as_of,
        marks_as_of=p.marks_as_of,
        last_run_id=service.last_report.run_id if service.last_report else None,
    )


@router.get("/trades", response_model=TradesResponse)
async def get_trades(
    _caller: AdminDep,
    service: ExecutionServiceDep,
    symbol: Annotated[
        str | None, Query(pattern=r"^[A-Za-z0-9]{2,20}$", description="Only this symbol (any case: btcusdt = BTCUSDT).")
    ] = None,
    since: Annotated[UtcDatetime | None, Query(description="From this time (inclusive, ISO 8601 with zone).")] = None,
    until: Annotated[UtcDatetime | None, Query(description="Before this time (exclusive).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> TradesResponse:
    """Orders and fills, newest first, paginated, filterable by symbol and time."""
    orders, n_orders, fills, n_fills = await service.history(
        symbol=symbol.upper() if symbol else None, since=since, until=until, limit=limit, offset=offset
    )
    return TradesResponse(
        limit=limit,
        offset=offset,
        orders_total=n_orders,
        fills_total=n_fills,
        orders=[OrderOut.model_validate(o, from_attributes=True) for o in orders],
        fills=[FillOut.model_validate(f, from_attributes=True) for f in fills],
    )
