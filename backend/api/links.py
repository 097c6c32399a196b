"""OpenAPI links between operations: where the answer of one names a record another reads.

They document the API for clients and drive schemathesis' stateful fuzzing (a run id taken from
``POST /ai/train`` and used in ``GET /ai/runs/{run_id}``...). A link points at its target by
``operationRef``, so it does not depend on FastAPI's generated operation ids.
"""

from __future__ import annotations

from typing import Any


def link(method: str, path: str, description: str, **parameters: str) -> dict[str, Any]:
    """One OpenAPI link to ``method path``, each path parameter taken from a runtime expression."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method.lower()}", "parameters": parameters, "description": description}


def linked(description: str, **links: dict[str, Any]) -> dict[str, Any]:
    """A ``responses`` entry that adds links to the route's own answer for that status."""
    return {"description": description, "links": links}
