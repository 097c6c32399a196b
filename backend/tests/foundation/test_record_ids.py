"""Record ids in paths are bounded like the 32-bit columns they name: an id no column can hold is a 422
naming the bound, never a database error (found by the fuzz on PostgreSQL: GET /ai/runs/{2**31} → 500)."""

from __future__ import annotations

from typing import Any

import pytest

from backend.tests.conftest import ADMIN_HEADERS

PATHS = ["/ai/runs/{}", "/execution/runs/{}", "/backtests/{}", "/backtests/{}/equity", "/backtests/{}/report"]


@pytest.mark.parametrize("path", PATHS)
def test_an_id_no_column_can_hold_is_refused_as_input(client: Any, path: str) -> None:
    answer = client.get(path.format(2**31), headers=ADMIN_HEADERS)
    assert answer.status_code == 422, answer.text
    assert "2147483647" in answer.text
    # the largest id a column can hold is simply unknown
    assert client.get(path.format(2**31 - 1), headers=ADMIN_HEADERS).status_code == 404
