"""The API benchmark's reference: a plain FastAPI endpoint with no middleware and no dependencies."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/ref")
async def ref() -> dict[str, str]:
    return {"status": "ok", "version": "0.1.0"}
