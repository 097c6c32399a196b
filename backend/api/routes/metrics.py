"""Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Response

from backend.api.deps import MetricsDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def get_metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics in the text exposition format."""
    body, content_type = metrics.exposition()
    return Response(content=body, media_type=content_type)
