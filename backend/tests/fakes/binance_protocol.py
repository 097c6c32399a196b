"""The request, route and error types of the local Binance server (backend/tests/fakes/binance_server.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.tests.fakes.binance_server import FakeBinance


class BinanceAPIError(Exception):
    """An error answer in Binance's shape: HTTP status plus {"code": .., "msg": ..}."""

    def __init__(self, status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = headers or {}


@dataclass
class FakeRequest:
    method: str
    path: str
    query: str
    body: str
    headers: dict[str, str]
    params: dict[str, str]  # query and form body merged

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise BinanceAPIError(
                400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
            )
        return value


Handler = Callable[["FakeBinance", FakeRequest], Any]


@dataclass
class Route:
    handler: Handler
    signed: bool = False
    weight: int | Callable[[FakeRequest], int] = 1

    def cost(self, request: FakeRequest) -> int:
        return self.weight(request) if callable(self.weight) else self.weight
