"""Fuzzing past the happy shapes: NaN, ±Infinity, 1e309, lone surrogates, huge and negative numbers
and junk keys in every body field, query parameter and path parameter of every operation of the
app's own OpenAPI document, as the admin, anonymously and with a wrong token; and a stateful
sequence of admin actions. Every answer is below 500 and strict JSON in UTF-8.

`make test` runs QT_FUZZ_EXAMPLES (default 4) cases per operation and caller; `make fuzz` more.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory

EXAMPLES = int(os.environ.get("QT_FUZZ_EXAMPLES", "4"))
CALLERS = {"admin": ADMIN_HEADERS, "anonymous": {}, "wrong-token": {"X-Admin-Token": "not-the-token"}}
# JSON tokens Python's parser accepts that strict JSON has no room for, written into the body as is
RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", '"\\ud800"', '"\\udfff x"', '"a\\u0000b"']
HOSTILE_SCALARS = st.one_of(
    st.sampled_from([10**30, -(10**30), 2**63, -(2**63) - 1, -1, 0, 1.5, -0.0, "", "x" * 5000, True, None]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
HOSTILE = st.recursive(
    HOSTILE_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\ud800", "-1", "1e309", "NaN", "9" * 40, "9999-12-31T23:59:59-23:59", "%00", "A" * 3000]),
    st.text(max_size=40),
)


def _json_body(fields: list[str], draw: Any) -> bytes:
    """An object over the operation's own field names (and a junk one), some values raw tokens."""
    names = [*fields, "junk\ud800", "x"]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    parts = []
    for name in chosen:
        if draw(st.booleans()):
            value = draw(st.sampled_from(RAW_TOKENS))
        else:
            value = json.dumps(draw(HOSTILE), allow_nan=True)
        parts.append(f"{json.dumps(name)}:{value}")
    return ("{" + ",".join(parts) + "}").encode("ascii")


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, spec)
        for path, item in openapi["paths"].items()
        for method, spec in item.items()
        if method in ("get", "post", "put", "delete", "patch")
    ]


def _body_fields(openapi: dict[str, Any], spec: dict[str, Any]) -> list[str] | None:
    content = spec.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    schema = content.get("schema", {})
    if "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {})) or ["QT_MAX_NOTIONAL_PER_TRADE", "QT_LIQUIDITY_LIQ_WEIGHT"]


def _strict(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.headers.get("content-type", "").startswith("application/json"):
        json.loads(response.content.decode("utf-8"), parse_constant=lambda c: pytest.fail(f"{c} in an answer"))


def _fuzz_operation(
    client: TestClient,
    headers: dict[str, str],
    method: str,
    path: str,
    params: list[dict[str, Any]],
    fields: list[str] | None,
) -> int:
    cases = 0

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a failure here reproduces
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(data=st.data())
    def one(data: Any) -> None:
        nonlocal cases
        url, query = path, []
        for param in params:
            value = quote(data.draw(HOSTILE_TEXT).encode("utf-8", "surrogatepass"), safe="")
            if param["in"] == "path":
                url = url.replace("{" + param["name"] + "}", value or "x")
            elif data.draw(st.booleans()):
                query.append(f"{param['name']}={value}")
        if query:
            url += "?" + "&".join(query)
        sent, body = dict(headers), None
        if fields is not None:
            body = _json_body(fields, data.draw)
            sent["Content-Type"] = "application/json"
        _strict(client.request(method, url, headers=sent, content=body))
        cases += 1

    one()
    return cases


@pytest.mark.parametrize("caller", list(CALLERS))
def test_hostile_values_in_every_operation_never_get_a_5xx(client: TestClient, caller: str) -> None:
    openapi = client.get("/openapi.json").json()
    operations = [op for op in _operations(openapi) if op[1] not in ("/ai/train", "/backtests")]
    cases = 0
    for method, path, spec in operations:
        params = [p for p in spec.get("parameters", []) if p["in"] in ("query", "path")]
        cases += _fuzz_operation(client, CALLERS[caller], method, path, params, _body_fields(openapi, spec))
    print(f"hostile fuzz {caller}: {cases} cases over {len(operations)} operations")
    assert cases >= len(operations) * min(EXAMPLES, 2)


def test_hostile_training_requests_never_start_a_run_or_get_a_5xx(client: TestClient) -> None:
    """/ai/train is fuzzed apart: a valid request would start a real training run."""
    headers = {**ADMIN_HEADERS, "Content-Type": "application/json"}
    for token in RAW_TOKENS:
        for field in ("symbols", "days", "horizon", "seed", "activate", "interval", "source", "x"):
            value = f"[{token}]" if field == "symbols" else token
            response = client.post("/ai/train", headers=headers, content=f'{{"{field}":{value}}}'.encode())
            assert response.status_code == 422, (field, token, response.text)
            _strict(response)
    assert client.get("/ai/runs", headers=ADMIN_HEADERS).json()["total"] == 0


class AdminSequences(RuleBasedStateMachine):
    """Random sequences of admin mutations, valid and hostile; the read side stays consistent."""

    client: TestClient

    def __init__(self) -> None:
        super().__init__()
        self.kill_switch: bool | None = None
        self.paused = False
        self.mutations = 0

    @initialize()
    def start_clean(self) -> None:
        """Every sequence runs on the same app: start it from no override and a running scheduler."""
        assert self._post("/risk/reset").status_code == 200
        assert self._post("/scheduler/resume").status_code in (200, 409)

    def _post(self, path: str, body: bytes | None = None) -> Any:
        headers = {**ADMIN_HEADERS, "Content-Type": "application/json"}
        response = self.client.post(path, headers=headers, content=body)
        _strict(response)
        return response

    @rule(enabled=st.sampled_from(["true", "false", "null", "NaN", "1", '"yes"', "1e309", '"\\ud800"']))
    def kill_switch(self, enabled: str) -> None:
        response = self._post("/risk/kill-switch", f'{{"enabled":{enabled}}}'.encode())
        if enabled in ("true", "false", "null"):
            assert response.status_code == 200
            self.kill_switch = json.loads(enabled)
            self.mutations += 1
        else:
            assert response.status_code == 422

    @rule(pause=st.booleans())
    def scheduler(self, pause: bool) -> None:
        response = self._post("/scheduler/pause" if pause else "/scheduler/resume")
        if response.status_code == 200:
            self.paused = pause
            self.mutations += 1

    @rule(value=st.one_of(st.sampled_from(["NaN", "Infinity", "1e309", '"\\ud800"', "-1", "0.5", "2"]), st.just("3")))
    def put_setting(self, value: str) -> None:
        headers = {**ADMIN_HEADERS, "Content-Type": "application/json"}
        response = self.client.put(
            "/settings", headers=headers, content=f'{{"QT_LIQUIDITY_LIQ_WEIGHT":{value}}}'.encode()
        )
        _strict(response)
        finite = value not in ("NaN", "Infinity", "1e309", '"\\ud800"', "-1")
        assert response.status_code == (200 if finite else 422), (value, response.text)
        self.mutations += finite

    @rule()
    def delete_setting(self) -> None:
        response = self.client.delete("/settings/QT_LIQUIDITY_LIQ_WEIGHT", headers=ADMIN_HEADERS)
        _strict(response)
        assert response.status_code in (200, 404)
        self.mutations += response.status_code == 200

    @rule()
    def reset(self) -> None:
        assert self._post("/risk/reset").status_code == 200
        self.kill_switch = None
        self.mutations += 1

    @invariant()
    def reads_agree(self) -> None:
        risk = self.client.get("/risk", headers=ADMIN_HEADERS)
        _strict(risk)
        assert risk.json()["kill_switch"]["override"] == self.kill_switch
        for path in ("/health", "/health/scheduler", "/settings", "/audit"):
            _strict(self.client.get(path, headers=ADMIN_HEADERS))
        entries = self.client.get("/audit?limit=200", headers=ADMIN_HEADERS).json()["entries"]
        assert sum(entry.get("outcome") == "ok" for entry in entries) >= min(self.mutations, 200)


def test_stateful_admin_sequences(client_for: Any, make_settings: SettingsFactory) -> None:
    AdminSequences.client = client_for(make_settings())
    runner = AdminSequences.TestCase
    runner.settings = hypothesis.settings(
        max_examples=max(2, EXAMPLES // 2),
        stateful_step_count=10,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    runner().runTest()
