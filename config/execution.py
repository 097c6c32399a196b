"""Execution settings: planner knobs, exchange adapter choice, paper exchange, Binance credentials."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from config.base import Section, SymbolList, tunable


class ExchangeKind(StrEnum):
    PAPER = "paper"
    BINANCE = "binance"


class ExecutionSettings(Section):
    exchange: ExchangeKind = Field(
        ExchangeKind.PAPER,
        alias="QT_EXECUTION_EXCHANGE",
        description="Execution adapter: paper (default, simulated fills) or binance.",
    )
    quote_asset: str = Field(
        "USDT",
        alias="QT_EXECUTION_QUOTE_ASSET",
        description="Quote asset used to map balances to trading symbols.",
    )
    min_notional: Decimal = Field(
        Decimal("50"),
        alias="QT_EXECUTION_MIN_NOTIONAL",
        ge=0,
        description="Orders below this notional are dropped.",
        json_schema_extra=tunable(),
    )
    max_orders: int = Field(
        10,
        alias="QT_EXECUTION_MAX_ORDERS",
        ge=1,
        le=1000,
        description="Most orders per cycle, largest first.",
        json_schema_extra=tunable(),
    )
    cash_buffer: Decimal = Field(
        Decimal("0"),
        alias="QT_EXECUTION_CASH_BUFFER",
        ge=0,
        description="Cash reserved from equity before computing targets.",
        json_schema_extra=tunable(),
    )
    order_style: Literal["market", "limit_ioc", "maker_first"] = Field(
        "market",
        alias="QT_EXECUTION_ORDER_STYLE",
        description=(
            "market: MARKET orders; limit_ioc: LIMIT IOC at the arrival mark ± QT_EXECUTION_MAX_SLIPPAGE_BPS "
            "(never fills worse than the bound; what does not fill at once expires); maker_first: LIMIT_MAKER "
            "at the best bid/ask, re-priced up to QT_EXECUTION_MAKER_REPRICES times, the rest finished with "
            "limit_ioc after QT_EXECUTION_MAKER_TIMEOUT_SECONDS."
        ),
        json_schema_extra=tunable(),
    )
    maker_timeout_seconds: float = Field(
        60.0,
        alias="QT_EXECUTION_MAKER_TIMEOUT_SECONDS",
        ge=0,
        le=86400,
        description="maker_first: how long a maker order may rest before it is cancelled and finished with "
        "limit_ioc (checked each cycle and each QT_EXECUTION_RESTING_CHECK_SECONDS).",
        json_schema_extra=tunable(),
    )
    resting_check_seconds: int = Field(
        15,
        alias="QT_EXECUTION_RESTING_CHECK_SECONDS",
        ge=0,
        le=3600,
        description="How often resting maker orders are looked up, re-priced or finished between cycles; "
        "0 = only in the cycle.",
        json_schema_extra=tunable(),
    )
    maker_reprices: int = Field(
        2,
        alias="QT_EXECUTION_MAKER_REPRICES",
        ge=0,
        le=20,
        description="maker_first: how often a resting maker order left behind by the book is moved to the "
        "new best bid/ask before the timeout.",
        json_schema_extra=tunable(),
    )
    slice_notional: Decimal = Field(
        Decimal(0),
        alias="QT_EXECUTION_SLICE_NOTIONAL",
        ge=0,
        description="Orders above this notional (quote asset) are split into child orders of at most this size "
        "(at most 1,000 slices an order), sent one per check over the cycle (TWAP); 0 sends every order whole.",
        json_schema_extra=tunable(),
    )
    max_slippage_bps: Decimal = Field(
        Decimal(25),
        alias="QT_EXECUTION_MAX_SLIPPAGE_BPS",
        gt=0,
        le=1000,
        description="limit_ioc: the limit price's distance from the arrival mark, basis points.",
        json_schema_extra=tunable(),
    )
    allow_partial: bool = Field(
        True,
        alias="QT_EXECUTION_ALLOW_PARTIAL",
        description="false turns a partial sell into a full exit.",
        json_schema_extra=tunable(),
    )
    unknown_grace_seconds: float = Field(
        120.0,
        alias="QT_EXECUTION_UNKNOWN_GRACE_SECONDS",
        ge=0,
        le=86400,
        description="How long an order whose outcome is unknown stays unknown (looked up on a backoff, "
        "nothing new sent) before the account's orders are searched and it is declared never placed.",
        json_schema_extra=tunable(),
    )
    keep_assets: SymbolList = Field(
        default_factory=list,
        alias="QT_EXECUTION_KEEP_ASSETS",
        description="Comma-separated assets the planner never sells nor buys (the account needs them, e.g. BNB "
        "for fees); an asset that has paid a fee in the ledger is kept without being listed.",
    )
    binance_testnet: bool = Field(
        False,
        alias="QT_EXECUTION_BINANCE_TESTNET",
        description="1 routes orders and account snapshots to the Binance Spot Testnet.",
    )
    binance_api_key: SecretStr | None = Field(None, alias="QT_BINANCE_API_KEY", description="Binance API key (secret).")
    binance_api_secret: SecretStr | None = Field(None, alias="QT_BINANCE_API_SECRET", description="Binance API secret.")
    binance_recv_window_ms: int = Field(
        5000,
        alias="QT_BINANCE_RECV_WINDOW_MS",
        ge=1,
        le=60_000,
        description="recvWindow sent with signed Binance requests.",
    )
    live_confirm: bool = Field(
        False,
        alias="QT_EXECUTION_LIVE_CONFIRM",
        description="Must be 1 for live (non-testnet) Binance trading outside development.",
    )
    paper_starting_cash: Decimal = Field(
        Decimal("10000"),
        alias="QT_PAPER_STARTING_CASH",
        gt=0,
        description="Paper exchange starting balance in the quote asset.",
    )
    paper_fee_bps: Decimal = Field(
        Decimal("10"),
        alias="QT_PAPER_FEE_BPS",
        ge=0,
        le=1000,
        description="Paper exchange taker fee in basis points.",
    )
    paper_maker_fee_bps: Decimal = Field(
        Decimal("10"),
        alias="QT_PAPER_MAKER_FEE_BPS",
        ge=0,
        le=1000,
        description="Paper exchange maker fee in basis points (resting limit orders filled later).",
    )
    paper_fill_volume_share: Decimal = Field(
        Decimal("0.1"),
        alias="QT_PAPER_FILL_VOLUME_SHARE",
        gt=0,
        le=1,
        description="Share of a bar's volume that may fill a resting paper order the bar traded through.",
    )
    paper_order_ttl_seconds: float = Field(
        0.0,
        alias="QT_PAPER_ORDER_TTL_SECONDS",
        ge=0,
        le=30 * 86400,
        description="A resting paper order expires after this many seconds; 0 keeps it until filled or cancelled.",
    )
    paper_max_slippage_bps: Decimal = Field(
        Decimal("50"),
        alias="QT_PAPER_MAX_SLIPPAGE_BPS",
        gt=0,
        le=10_000,
        description="Paper market orders stop walking the book past this slippage.",
    )
    snapshot_retention_days: int = Field(
        14,
        alias="QT_SNAPSHOT_RETENTION_DAYS",
        ge=0,
        le=3650,
        description=(
            "Days the market each execution cycle traded on is kept (market_snapshots, for the backtest's "
            "--compare-live drift report); 0 records nothing."
        ),
    )

    @field_validator("quote_asset", mode="before")
    @classmethod
    def _quote(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().upper()
            if not re.fullmatch(r"[A-Z0-9]{2,10}", value):
                raise ValueError("must be an asset code of 2-10 letters or digits, e.g. USDT")
        return value
