"""The Telegram commands' view of the service: status, balance and positions as text, and the switches."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from backend.api.routes.health import health_snapshot
from backend.context import AppContext
from backend.notify.telegram import Controls, Refused, money


def build_controls(ctx: AppContext) -> Controls:
    async def status() -> str:
        body = health_snapshot(ctx)
        guard = ctx.services.get("risk_guard")
        kill = guard.kill_switch_state() if guard is not None else None
        if kill is None:
            switch = "unknown"
        else:
            switch = ("ON" if kill.enabled else "off") + (f" ({kill.reason})" if kill.enabled and kill.reason else "")
        runner = ctx.runner
        scheduler = "paused" if runner.paused else "running" if runner.running else "stopped"
        lines = [f"Status: {body['status']}", f"Kill switch: {switch}", f"Scheduler: {scheduler} ({runner.role})"]
        lines += [f"- {reason}" for reason in body["reasons"][:8]]
        return "\n".join(lines)

    def execution() -> Any:
        service = ctx.services.get("execution")
        if service is None:
            raise Refused("The execution service is not running.")
        return service

    async def balance() -> str:
        p = await execution().portfolio(refresh=False)
        q = p.quote_asset
        return "\n".join(
            [
                f"Equity {money(p.equity, q)} ({p.exchange})",
                f"Cash {money(p.cash, q)}",
                f"Exposure {money(p.gross_exposure, q)}",
                f"Realised PnL {money(p.realised_pnl, q)}, unrealised {money(p.unrealised_pnl, q)}",
                f"Fees {money(p.fees_paid, q)}",
            ]
        )

    async def positions() -> str:
        p = await execution().portfolio(refresh=False)
        if not p.positions:
            return "No open positions."
        q = p.quote_asset
        return "\n".join(
            f"{pos.symbol} {pos.quantity.normalize():f} at {pos.average_cost.quantize(Decimal('0.0001'))}: "
            f"{money(pos.market_value, q)} (unrealised {money(pos.unrealised_pnl, q)})"
            for pos in p.positions
        )

    async def kill_switch(enabled: bool, reason: str, actor: str, audit: Callable[[Any, Any], None]) -> Any:
        guard = ctx.services.get("risk_guard")
        if guard is None:
            raise Refused("The risk guard is not running.")
        return await guard.set_kill_switch(enabled, reason, actor, audit=audit)

    return Controls(
        status=status,
        balance=balance,
        positions=positions,
        kill_switch=kill_switch,
        pause=ctx.runner.pause,
        resume_jobs=ctx.runner.resume,
        jobs_paused=lambda: ctx.runner.paused,
    )
