"""API fuzzing: schemathesis generates requests for every operation of the app's own OpenAPI
document, valid and invalid, as the admin, anonymously and with a wrong token. No answer may be a
5xx, every status code must be documented for its operation, and every answer must match the
schema and content type documented for its status code.

`make test` runs a few examples per operation and mode; `make fuzz` sets QT_FUZZ_EXAMPLES higher.
"""

from __future__ import annotations

import os
import traceback
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.api.routes import iter_api_routes
from backend.api.security import require_admin
from backend.main import create_app
from backend.tests.conftest import ADMIN_HEADERS, SettingsFactory

EXAMPLES = int(os.environ.get("QT_FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]
CALLERS: dict[str, dict[str, str]] = {
    "admin": ADMIN_HEADERS,
    "anonymous": {},
    "wrong-token": {"X-Admin-Token": "not-the-token"},
}
REFUSAL = {"anonymous": 401, "wrong-token": 403}
# FastAPI reads and decodes a JSON body before it runs dependencies, so an undecodable body is
# refused (400/422) before the token is looked at; nothing runs either way.
# The HTTP guard refuses a non-JSON mutation body (415) before anything else, too.
PRE_AUTH = {400, 415, 422}


def _uses(dependant: Any, call: Any) -> bool:
    return any(dep.call is call or _uses(dep, call) for dep in dependant.dependencies)


def public_operations(app: Any) -> set[str]:
    """Labels ("GET /health") of the operations no admin token guards, found from the app itself."""
    return {
        f"{method} {route.path}"
        for route in iter_api_routes(app.routes)
        if not _uses(route.dependant, require_admin)
        for method in route.methods
    }


@pytest.fixture
def schema(make_settings: SettingsFactory) -> Iterator[Any]:
    """The app's OpenAPI, served in-process by the app with its lifespan running (scheduler off)."""
    app = create_app(make_settings())
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    try:
        yield loaded
    finally:
        # schemathesis keeps a started lifespan for the rest of the process; close this app's now
        asgi.shutdown_lifespans()


class Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.statuses: dict[str, Counter[int]] = {}
        self.failures: list[str] = []

    def record(self, label: str, status: int) -> None:
        self.cases += 1
        self.statuses.setdefault(label, Counter())[status] += 1


def _fuzz(operation: Any, headers: dict[str, str], mode: GenerationMode, tally: Tally) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a failure here reproduces
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        # the admin header is a declared security scheme, so schemathesis generates values for it;
        # the caller under test decides the token
        if case.headers:
            case.headers = {k: v for k, v in case.headers.items() if k.lower() != "x-admin-token"}
        try:
            response = case.call(headers=headers)
            if "X-Admin-Token" in headers and "x-admin-token" not in response.request.headers:
                # a negative case that drops the security header on purpose: it must be a 401
                if response.status_code not in (401, *PRE_AUTH):
                    tally.failures.append(f"{operation.label}: without the header: {response.status_code}")
                return
            tally.record(operation.label, response.status_code)
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, reported together
            detail = "".join(traceback.format_exception_only(exc)).strip()
            tally.failures.append(f"{operation.label} [{mode.value}]: {detail}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # an operation without parameters or body has no invalid input to generate
        if mode is GenerationMode.POSITIVE:
            raise


@pytest.mark.parametrize("caller", list(CALLERS))
def test_every_operation_answers_without_5xx_and_within_its_schema(schema: Any, caller: str) -> None:
    tally = Tally()
    public = public_operations(schema.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, CALLERS[caller], mode, tally)

    print(f"fuzz {caller}: {tally.cases} cases over {len(operations)} operations")  # shown with -s
    assert not tally.failures, f"{len(tally.failures)} failures:\n\n" + "\n\n".join(tally.failures[:20])
    # every operation was really exercised, and the token made the difference it should
    assert set(tally.statuses) == {op.label for op in operations}
    assert tally.cases >= len(operations) * 2
    for label, statuses in tally.statuses.items():
        if label in public and "{" in label:
            # a public read of one record (GET /backtests/{run_id}): generated ids name no record,
            # so a 404 proves the route ran past validation; none may need the token
            assert statuses[200] + statuses[404] > 0, (label, statuses)
            assert not set(statuses) & {401, 403}, (label, statuses)
        elif label in public:
            assert statuses[200] > 0, (label, statuses)
        elif caller in REFUSAL:
            assert statuses[REFUSAL[caller]] > 0, (label, statuses)
            assert set(statuses) <= {REFUSAL[caller]} | PRE_AUTH, (label, statuses)
        else:
            assert not set(statuses) & {401, 403}, (label, statuses)
            assert any(200 <= code < 300 or code in (404, 409, 422) for code in statuses), (label, statuses)


# --- stateful: sequences that follow the OpenAPI links (POST /ai/train -> GET /ai/runs/{run_id}...) --
STATEFUL_STEPS = int(os.environ.get("QT_FUZZ_STATEFUL_STEPS", "6"))


@pytest.mark.parametrize("caller", list(CALLERS))
def test_linked_sequences_answer_without_5xx_and_within_their_schemas(schema: Any, caller: str) -> None:
    """schemathesis' state machine over the links of the app's OpenAPI document: each step's
    answer feeds the next request (a run id, a version), as the admin, anonymously and with a
    wrong token; every answer is below 500 and matches its documented status, type and schema."""
    headers = CALLERS[caller]
    tally = Tally()
    followed: Counter[str] = Counter()

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def step(self, input: Any) -> Any:
            if input.transition is not None:
                followed[f"{input.transition.id} -> {input.case.operation.label}"] += 1
            return super().step(input)

        def before_call(self, case: Any) -> None:
            if case.headers:  # the caller under test decides the token
                case.headers = {k: v for k, v in case.headers.items() if k.lower() != "x-admin-token"}

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def after_call(self, response: Any, case: Any) -> None:
            tally.record(case.operation.label, response.status_code)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            # collected, not raised: the app's state outlives a sequence, so hypothesis could not
            # replay a failing one to shrink it; the failure is reported with its request instead
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Exception, BaseExceptionGroup) as exc:
                detail = "".join(traceback.format_exception_only(exc)).strip()
                tally.failures.append(f"{case.operation.label} -> {response.status_code}: {detail}")

    restarts = 0
    for attempt in range(3):
        try:
            Sequences.run(
                settings=hypothesis.settings(
                    max_examples=EXAMPLES,
                    stateful_step_count=STATEFUL_STEPS,
                    deadline=None,
                    database=None,
                    derandomize=attempt == 0,  # the first pass reproduces; a restart explores afresh
                    suppress_health_check=list(HealthCheck),
                )
            )
            break
        except hypothesis.errors.Flaky:
            # Which links a step may follow depends on earlier answers, and the app's state (runs,
            # backtests, a training in progress) outlives each sequence, so hypothesis can find a
            # sequence it drew before taking another turn. schemathesis' own runner restarts the
            # suite then, as here; failures are never lost: they are collected, not raised.
            restarts += 1
    links = sum(followed.values())
    print(
        f"stateful fuzz {caller}: {tally.cases} calls in sequences ({restarts} restarts), "
        f"{links} through links: {dict(followed)}"
    )
    assert not tally.failures, f"{len(tally.failures)} failures:\n\n" + "\n\n".join(tally.failures[:20])
    assert tally.cases >= EXAMPLES
    if caller == "admin":
        assert links > 0, tally.statuses
    else:  # without a valid token only the public operations answer anything but a refusal
        public = public_operations(schema.app)
        for label, statuses in tally.statuses.items():
            if label not in public:
                assert set(statuses) <= {401, 403} | PRE_AUTH, (label, statuses)
