"""The OpenAPI document operators use: the admin header as a security scheme, every response field typed."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import hypothesis
from fastapi.testclient import TestClient
from hypothesis import strategies as st

from backend.amounts import AMOUNT_PATTERN, decimal_text
from backend.tests.foundation.test_api import admin_routes

TYPED_MODELS = ["PortfolioResponse", "PositionOut", "BalanceOut", "OrderOut", "FillOut", "TradesResponse"]


def _typed(schema: dict[str, Any]) -> bool:
    if "$ref" in schema or "type" in schema or "const" in schema or "enum" in schema:
        return True
    members = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    return bool(members) and all(_typed(member) for member in members)


def test_the_admin_header_is_an_api_key_security_scheme_on_every_admin_route(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["AdminToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Admin-Token",
        "description": "The admin token (QT_ADMIN_TOKEN). Missing: 401; wrong: 403.",
    }
    guarded = set(admin_routes(client.app))
    assert guarded
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            security = operation.get("security")
            if (method.upper(), path) in guarded:
                assert security == [{"AdminToken": []}], (method, path)
            else:
                assert security is None, (method, path)


def test_every_field_of_the_money_responses_is_typed_and_amounts_have_a_pattern(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    amounts = 0
    for name in TYPED_MODELS:
        for field, schema in schemas[name]["properties"].items():
            assert _typed(schema), (name, field, schema)
            members = schema.get("anyOf", [schema])
            if any(member.get("pattern") == AMOUNT_PATTERN for member in members):
                amounts += 1
                assert all(m.get("type") in ("string", "null") for m in members), (name, field)
    assert amounts >= 25  # every Decimal of the five money models


def test_responses_write_amounts_in_one_representation(client: TestClient) -> None:
    body = client.get("/risk", headers={"X-Admin-Token": "test-admin-token"}).json()
    limits = body["limits"]
    assert limits["max_notional_per_trade"] == "1000"
    for value in (limits["max_notional_per_trade"], limits["max_daily_loss"], body["metrics"]["gross_exposure"]):
        assert re.match(AMOUNT_PATTERN, value), value


finite_decimals = st.decimals(allow_nan=False, allow_infinity=False)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(finite_decimals)
def test_decimal_text_is_exact_plain_and_matches_the_pattern(value: Decimal) -> None:
    text = decimal_text(value)
    assert re.match(AMOUNT_PATTERN, text), (value, text)
    assert Decimal(text) == value
    assert "E" not in text.upper()


def test_decimal_text_examples() -> None:
    assert decimal_text(Decimal("9797.580591376000000")) == "9797.580591376"
    assert decimal_text(Decimal("1E-8")) == "0.00000001"
    assert decimal_text(Decimal("1E+2")) == "100"
    assert decimal_text(Decimal("-0.000")) == "0"
