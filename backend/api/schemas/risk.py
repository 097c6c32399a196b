"""Schemas of /risk, /risk/kill-switch and /risk/reset. Money is a decimal string in JSON."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from backend.api.schemas.base import RequestModel
from backend.api.schemas.numbers import Amount
from backend.risk.models import ZERO, KillSwitchState, RiskSnapshot
from config.risk import RiskSettings


class KillSwitchView(BaseModel):
    enabled: bool = Field(description="Effective state: no order passes while true.")
    default: bool = Field(description="QT_KILL_SWITCH, used when no override is set.")
    override: bool | None = Field(description="Operator (or automatic) override; null follows the default.")
    reason: str | None
    actor: str | None = Field(description="Who set the override: admin token fingerprint, client, or risk-guard.")
    updated_at: datetime | None

    @classmethod
    def of(cls, state: KillSwitchState) -> KillSwitchView:
        return cls(
            enabled=state.enabled,
            default=state.default,
            override=state.override,
            reason=state.reason,
            actor=state.actor,
            updated_at=state.updated_at,
        )


class RiskLimits(BaseModel):
    max_notional_per_trade: Amount
    max_daily_loss: Amount
    max_position_per_symbol: Amount | None = Field(description="null: off")
    max_gross_exposure: Amount | None = Field(description="null: off")
    max_price_deviation_pct: Amount
    max_price_staleness_seconds: float
    halt_after_failures: int = Field(description="Consecutive exchange failures that turn the kill switch on; 0: off")


class Bounds(BaseModel):
    min_price: Amount
    max_price: Amount


class PriceBoundsView(BaseModel):
    default: Bounds = Field(description="QT_MIN_PRICE / QT_MAX_PRICE, for symbols without their own bounds.")
    symbols: dict[str, Bounds] = Field(description="QT_SYMBOL_PRICE_BOUNDS")


class RiskMetricsView(BaseModel):
    day: date = Field(description="The UTC day the figures cover.")
    trades_today: int
    notional_today: Amount
    realised_pnl_today: Amount
    loss_budget_left: Amount = Field(description="QT_MAX_DAILY_LOSS minus today's realised loss, at least 0.")
    gross_exposure: Amount = Field(description="Σ |notional| of the last positions seen, pending orders included.")
    exposure_by_symbol: dict[str, Amount]
    exposure_as_of: datetime | None = Field(description="When the guard last saw the caller's positions.")
    pending_orders: int = Field(description="Orders checked and not yet recorded or released.")
    consecutive_exchange_failures: int


class DrawdownView(BaseModel):
    max_drawdown_pct: Amount | None = Field(description="QT_MAX_DRAWDOWN_PCT; null: off")
    window_days: int = Field(description="QT_DRAWDOWN_WINDOW_DAYS")
    drawdown_pct: Amount | None = Field(description="Latest reading: percent below the window's high-water mark.")
    equity: Amount | None
    high_water: Amount | None
    high_water_at: datetime | None
    as_of: datetime | None = Field(description="The portfolio mark the reading was taken from; null before the first.")
    breached: bool


class CooldownView(BaseModel):
    minutes: float = Field(description="QT_SYMBOL_COOLDOWN_MINUTES; 0: off")
    symbols: dict[str, datetime] = Field(
        description="Symbols cooling down after a loss-making sale: no buy until then."
    )


class TurnoverView(BaseModel):
    max_daily_turnover: Amount | None = Field(description="QT_MAX_DAILY_TURNOVER; null: off")
    traded_today: Amount = Field(description="Quote recorded as traded in the UTC day (buys and sales).")
    pending: Amount = Field(description="|notional| of orders checked and not yet recorded.")
    left: Amount | None = Field(description="What today's cap still allows; null: off.")


class ProtectionsView(BaseModel):
    equity_drawdown: DrawdownView
    symbol_cooldown: CooldownView
    daily_turnover: TurnoverView

    @classmethod
    def of(cls, snapshot: RiskSnapshot, settings: RiskSettings) -> ProtectionsView:
        reading = snapshot.drawdown
        cap = settings.max_daily_turnover
        left = None if cap is None else max(cap - snapshot.notional_today - snapshot.turnover_pending, ZERO)
        return cls(
            equity_drawdown=DrawdownView(
                max_drawdown_pct=settings.max_drawdown_pct,
                window_days=settings.drawdown_window_days,
                drawdown_pct=None if reading is None else reading.drawdown_pct,
                equity=None if reading is None else reading.equity,
                high_water=None if reading is None else reading.high_water,
                high_water_at=None if reading is None else reading.high_water_at,
                as_of=None if reading is None else reading.as_of,
                breached=reading is not None and reading.breaches(settings.max_drawdown_pct),
            ),
            symbol_cooldown=CooldownView(minutes=settings.symbol_cooldown_minutes, symbols=snapshot.cooling_down),
            daily_turnover=TurnoverView(
                max_daily_turnover=cap,
                traded_today=snapshot.notional_today,
                pending=snapshot.turnover_pending,
                left=left,
            ),
        )


class RiskResponse(BaseModel):
    kill_switch: KillSwitchView
    limits: RiskLimits
    price_bounds: PriceBoundsView
    metrics: RiskMetricsView
    protections: ProtectionsView = Field(description="Equity drawdown halt, symbol cooldown, daily turnover cap.")
    state_store_error: str | None = Field(description="Set while the state store is unreachable (orders refused).")

    @classmethod
    def of(cls, snapshot: RiskSnapshot, settings: RiskSettings) -> RiskResponse:
        return cls(
            kill_switch=KillSwitchView.of(snapshot.kill_switch),
            limits=RiskLimits(
                max_notional_per_trade=settings.max_notional_per_trade,
                max_daily_loss=settings.max_daily_loss,
                max_position_per_symbol=settings.max_position_per_symbol,
                max_gross_exposure=settings.max_gross_exposure,
                max_price_deviation_pct=settings.max_price_deviation_pct,
                max_price_staleness_seconds=settings.max_price_staleness_seconds,
                halt_after_failures=settings.halt_after_failures,
            ),
            price_bounds=PriceBoundsView(
                default=Bounds(min_price=settings.min_price, max_price=settings.max_price),
                symbols={
                    symbol: Bounds(min_price=b.min_price, max_price=b.max_price)
                    for symbol, b in sorted(settings.symbol_price_bounds.items())
                },
            ),
            metrics=RiskMetricsView(
                day=snapshot.day,
                trades_today=snapshot.trades_today,
                notional_today=snapshot.notional_today,
                realised_pnl_today=snapshot.realised_pnl_today,
                loss_budget_left=snapshot.loss_budget_left,
                gross_exposure=snapshot.gross_exposure,
                exposure_by_symbol=snapshot.exposure_by_symbol,
                exposure_as_of=snapshot.exposure_as_of,
                pending_orders=snapshot.pending_orders,
                consecutive_exchange_failures=snapshot.consecutive_exchange_failures,
            ),
            protections=ProtectionsView.of(snapshot, settings),
            state_store_error=snapshot.state_store_error,
        )


class KillSwitchRequest(RequestModel):
    enabled: StrictBool | None = Field(description="true: halt; false: allow; null: back to QT_KILL_SWITCH.")
    reason: str | None = Field(None, max_length=500, description="Why; shown in GET /risk and the audit log.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"enabled": True, "reason": "investigating failed fills"}]}
    )


class KillSwitchResponse(BaseModel):
    kill_switch: KillSwitchView
