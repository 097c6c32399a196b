"""The Binance spot adapter: signed REST calls through python-binance.

- Keys: QT_BINANCE_API_KEY / QT_BINANCE_API_SECRET. QT_EXECUTION_BINANCE_TESTNET=1 uses the Spot
  Testnet (https://testnet.binance.vision/api); QT_BINANCE_API_URL overrides either.
- Time: the server clock is read before the first signed call and again after a -1021; every signed
  call carries recvWindow (QT_BINANCE_RECV_WINDOW_MS).
- Orders carry the caller's deterministic newClientOrderId. Anything that leaves the outcome of a
  new order uncertain (timeout, dropped connection, 5xx, -1000/-1001/-1006/-1007) raises
  UnknownOutcomeError; the caller then looks the order up by that id before anything is resent.
- HTTP 429/418 (and -1003/-1015) raise RateLimitedError and block every call until Retry-After has
  passed, without touching the network.
- Each documented error code is mapped to what to do next (see `binance_codes.classify`).
- Resting orders (LIMIT GTC, LIMIT_MAKER): `cancel_order` by client id (an order no longer open comes
  back as the exchange has it), `open_orders` for one symbol or the account.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests
from binance.client import BaseClient, Client
from binance.exceptions import BinanceAPIException, BinanceRequestException

from backend.exchanges.base import (
    AccountSnapshot,
    Balance,
    Fill,
    OrderRequest,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
)
from backend.exchanges.binance_codes import CANCEL_REJECTED, NO_SUCH_ORDER, classify
from backend.exchanges.errors import (
    ExchangeConfigError,
    ExchangeError,
    OrderRejectedError,
    RateLimitedError,
    TemporaryExchangeError,
    UnknownOutcomeError,
)
from backend.observability.metrics import Metrics
from config.settings import Settings

log = logging.getLogger(__name__)

LIVE_API_URL = "https://api.binance.com/api"
TESTNET_API_URL = "https://testnet.binance.vision/api"
DEFAULT_RETRY_AFTER = 60.0
MY_TRADES_LIMIT = 1000


def api_url(base_url: str | None, testnet: bool) -> str:
    if base_url:
        base = base_url.rstrip("/")
        return base if base.endswith("/api") else f"{base}/api"
    return TESTNET_API_URL if testnet else LIVE_API_URL


class _NoLoop:
    """python-binance's constructor wants an event loop for its websocket helpers; REST needs none."""


class _SignedClient(Client):
    """python-binance's REST client without side effects at construction (no ping, no loop)."""

    def __init__(self, url: str, api_key: str, api_secret: str, timeout: float, recv_window_ms: int) -> None:
        BaseClient.__init__(self, api_key, api_secret, {"timeout": timeout}, loop=_NoLoop())
        self.API_URL = url
        self.testnet = False  # the URL above already is the testnet one when asked for
        self.REQUEST_RECVWINDOW = recv_window_ms


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _ms(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f")


class BinanceExchange:
    name = "binance"

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        base_url: str | None = None,
        testnet: bool = False,
        recv_window_ms: int = 5000,
        timeout: float = 10.0,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not api_key or not api_secret:
            raise ExchangeConfigError("QT_BINANCE_API_KEY and QT_BINANCE_API_SECRET are required")
        self.url = api_url(base_url, testnet)
        self._client = _SignedClient(self.url, api_key, api_secret, timeout, recv_window_ms)
        self._metrics = metrics
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._synced = False
        self.blocked_until: datetime | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, metrics: Metrics | None = None, clock: Callable[[], datetime] | None = None
    ) -> BinanceExchange:
        ex = settings.execution
        if ex.binance_api_key is None or ex.binance_api_secret is None:
            raise ExchangeConfigError("QT_BINANCE_API_KEY and QT_BINANCE_API_SECRET are required")
        return cls(
            api_key=ex.binance_api_key.get_secret_value(),
            api_secret=ex.binance_api_secret.get_secret_value(),
            base_url=settings.market.binance_api_url,
            testnet=ex.binance_testnet,
            recv_window_ms=ex.binance_recv_window_ms,
            timeout=settings.market.binance_timeout_seconds,
            metrics=metrics,
            clock=clock,
        )

    # plumbing ---------------------------------------------------------------------------------
    def sync_time(self) -> int:
        """Measure the server clock offset (ms) and use it for signed timestamps."""
        t0 = time.time()
        server = self._call_raw("time", lambda: self._client.get_server_time(), new_order=False)
        t1 = time.time()
        offset = int(server["serverTime"] - (t0 + t1) / 2 * 1000)
        self._client.timestamp_offset = offset
        self._synced = True
        return offset

    def _check_block(self) -> None:
        blocked = self.blocked_until
        if blocked is not None:
            left = (blocked - self._clock()).total_seconds()
            if left > 0:
                raise RateLimitedError(f"backing off after a rate limit for {left:.0f}s more", retry_after=left)
            self.blocked_until = None

    def _count(self, endpoint: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.exchange_requests.labels(exchange=self.name, endpoint=endpoint, outcome=outcome).inc()

    def _call_raw(self, endpoint: str, func: Callable[[], Any], *, new_order: bool) -> Any:
        self._check_block()
        try:
            result = func()
        except BinanceAPIException as exc:
            raise self._translate(endpoint, exc, new_order=new_order) from exc
        except (requests.exceptions.RequestException, BinanceRequestException, ValueError) as exc:
            self._count(endpoint, "network")
            text = f"{endpoint}: {type(exc).__name__}: {exc}"
            if new_order:
                raise UnknownOutcomeError(text) from exc
            raise TemporaryExchangeError(text) from exc
        self._count(endpoint, "ok")
        return result

    def _call(self, endpoint: str, func: Callable[[], Any], *, new_order: bool = False) -> Any:
        """A signed call: syncs the clock first, and once more after a -1021."""
        with self._lock:
            if not self._synced:
                self.sync_time()
            try:
                return self._call_raw(endpoint, func, new_order=new_order)
            except TemporaryExchangeError as exc:
                if exc.code != -1021:
                    raise
                # a request refused for its timestamp was not executed: resync, try once more
                self.sync_time()
                return self._call_raw(endpoint, func, new_order=new_order)

    def _translate(self, endpoint: str, exc: BinanceAPIException, *, new_order: bool) -> ExchangeError:
        code = int(exc.code) if exc.code is not None else None
        status = int(exc.status_code) if exc.status_code is not None else None
        kind = classify(code, status)
        self._count(endpoint, kind)
        message = exc.message or str(exc)
        if kind == "rate":
            retry_after = DEFAULT_RETRY_AFTER
            header = exc.response.headers.get("Retry-After") if exc.response is not None else None
            if header:
                try:
                    retry_after = float(header)
                except ValueError:
                    pass
            self.blocked_until = self._clock() + timedelta(seconds=retry_after)
            log.warning("binance rate limit", extra={"status": status, "code": code, "retry_after": retry_after})
            return RateLimitedError(message, retry_after=retry_after, code=code, http_status=status)
        if kind == "config":
            return ExchangeConfigError(message, code=code, http_status=status)
        if kind == "unknown":
            cls = UnknownOutcomeError if new_order else TemporaryExchangeError
            return cls(message, code=code, http_status=status)
        if kind == "retry":
            return TemporaryExchangeError(message, code=code, http_status=status)
        return OrderRejectedError(message, code=code, http_status=status)

    # the protocol -----------------------------------------------------------------------------
    async def account(self) -> AccountSnapshot:
        return await asyncio.to_thread(self._account)

    def _account(self) -> AccountSnapshot:
        data = self._call("account", lambda: self._client.get_account(omitZeroBalances="true"))
        balances = {
            b["asset"]: Balance(b["asset"], _d(b["free"]), _d(b["locked"]))
            for b in data.get("balances", [])
            if _d(b["free"]) or _d(b["locked"])
        }
        fees: dict[str, Decimal] = {}
        rates = data.get("commissionRates") or {}
        for key in ("maker", "taker"):
            if key in rates:
                fees[key] = _d(rates[key]) * Decimal(10_000)
        return AccountSnapshot(balances=balances, taken_at=self._clock(), fees_bps=fees)

    async def commission(self, symbol: str) -> dict[str, Any]:
        """GET /api/v3/account/commission: the symbol's standard, tax and discount rates."""
        return await asyncio.to_thread(
            self._call,
            "commission",
            lambda: self._client._get("account/commission", True, data={"symbol": symbol}),
        )

    async def submit_order(self, request: OrderRequest) -> OrderResult:
        return await asyncio.to_thread(self._submit, request)

    def _submit(self, request: OrderRequest) -> OrderResult:
        params: dict[str, Any] = {
            "symbol": request.symbol,
            "side": request.side.value,
            "type": request.order_type.value,
            "quantity": _quantity(request.quantity),
            "newClientOrderId": request.client_order_id,
            "newOrderRespType": "FULL",
        }
        if request.quote_quantity is not None and request.price is None:
            del params["quantity"]  # a MARKET buy by quote amount: never spends more than that
            params["quoteOrderQty"] = _quantity(request.quote_quantity)
        if request.price is not None:
            params["price"] = _quantity(request.price)
            if request.order_type is not OrderType.LIMIT_MAKER:  # LIMIT_MAKER takes no timeInForce
                params["timeInForce"] = request.time_in_force or "GTC"
        data = self._call("new_order", lambda: self._client.create_order(**params), new_order=True)
        return self._result(data)

    async def query_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        return await asyncio.to_thread(self._query, symbol, client_order_id)

    def _query(self, symbol: str, client_order_id: str) -> OrderResult | None:
        try:
            data = self._call(
                "query_order", lambda: self._client.get_order(symbol=symbol, origClientOrderId=client_order_id)
            )
        except OrderRejectedError as exc:
            if exc.code == NO_SUCH_ORDER:
                return None
            raise
        return self._result(data)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        return await asyncio.to_thread(self._cancel, symbol, client_order_id)

    def _cancel(self, symbol: str, client_order_id: str) -> OrderResult | None:
        try:
            data = self._call(
                "cancel_order",
                lambda: self._client.cancel_order(symbol=symbol, origClientOrderId=client_order_id),
            )
        except OrderRejectedError as exc:
            if exc.code in (CANCEL_REJECTED, NO_SUCH_ORDER):
                # not open any more (filled, expired, cancelled before) or never seen: say which
                return self._query(symbol, client_order_id)
            raise
        return self._result(data)

    async def open_orders(self, symbol: str | None = None) -> list[OrderResult]:
        return await asyncio.to_thread(self._open_orders, symbol)

    def _open_orders(self, symbol: str | None) -> list[OrderResult]:
        params: dict[str, Any] = {} if symbol is None else {"symbol": symbol}
        data = self._call("open_orders", lambda: self._client.get_open_orders(**params))
        return [self._result(o) for o in data]

    async def orders(self, symbol: str, since: datetime | None = None) -> list[OrderResult]:
        return await asyncio.to_thread(self._orders, symbol, since)

    def _orders(self, symbol: str, since: datetime | None) -> list[OrderResult]:
        params: dict[str, Any] = {"symbol": symbol, "limit": MY_TRADES_LIMIT}
        if since is not None:
            params["startTime"] = int(since.timestamp() * 1000)
        data = self._call("all_orders", lambda: self._client.get_all_orders(**params))
        return [self._result(o) for o in data]

    async def trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        return await asyncio.to_thread(self._trades, symbol, since)

    def _trades(self, symbol: str, since: datetime | None) -> list[Fill]:
        data = self._call("my_trades", lambda: self._client.get_my_trades(symbol=symbol, limit=MY_TRADES_LIMIT))
        fills = [
            Fill(
                trade_id=str(t["id"]),
                symbol=t["symbol"],
                side=OrderSide.BUY if t["isBuyer"] else OrderSide.SELL,
                price=_d(t["price"]),
                quantity=_d(t["qty"]),
                fee=_d(t["commission"]),
                fee_asset=t["commissionAsset"],
                time=_ms(t["time"]),
                order_id=str(t["orderId"]),
            )
            for t in data
        ]
        return [f for f in fills if since is None or f.time >= since]

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close_connection)

    # parsing ----------------------------------------------------------------------------------
    def _result(self, data: dict[str, Any]) -> OrderResult:
        symbol = data["symbol"]
        side = OrderSide(data["side"])
        when = _ms(data.get("transactTime") or data.get("updateTime") or data.get("time") or 0)
        order_id = str(data["orderId"])
        fills = tuple(
            Fill(
                trade_id=str(f["tradeId"]),
                symbol=symbol,
                side=side,
                price=_d(f["price"]),
                quantity=_d(f["qty"]),
                fee=_d(f["commission"]),
                fee_asset=f["commissionAsset"],
                time=when,
                order_id=order_id,
            )
            for f in data.get("fills") or ()
        )
        price = _d(data.get("price") or "0")
        kind = data.get("type")
        return OrderResult(
            symbol=symbol,
            # a cancel's answer names the cancel request clientOrderId and the order origClientOrderId
            client_order_id=data.get("origClientOrderId") or data["clientOrderId"],
            exchange_order_id=order_id,
            status=OrderStatus(data["status"]) if data["status"] in OrderStatus.__members__ else OrderStatus.UNKNOWN,
            side=side,
            requested_quantity=_d(data["origQty"]),
            executed_quantity=_d(data["executedQty"]),
            quote_quantity=_d(data["cummulativeQuoteQty"]),
            fills=fills,
            time=when,
            price=price if price > 0 else None,
            order_type=OrderType(kind) if isinstance(kind, str) and kind in OrderType.__members__ else None,
        )
