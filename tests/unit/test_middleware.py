"""api/middleware.py: the body-size cap however the body comes, and bounded metric labels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import generate_latest
from starlette.types import Receive, Scope, Send

from api.metrics import REGISTRY
from api.middleware import BodySizeLimit, RequestMetrics

LIMIT = 1_000


def capped_app() -> BodySizeLimit:
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    return BodySizeLimit(app, limit=LIMIT)


async def post(content: Any, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=capped_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(
            "/echo", content=content, headers={"content-type": "application/json", **headers}
        )


async def chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    body = b'{"pad": "' + b"x" * (total - 11) + b'"}'
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_chunked_body_over_the_cap_is_413():
    response = await post(chunks(3 * LIMIT))

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body exceeds {LIMIT} bytes"}


async def test_a_chunked_body_under_the_cap_goes_through():
    response = await post(chunks(LIMIT))

    assert response.status_code == 200
    assert len(response.json()["pad"]) == LIMIT - 11


async def test_a_declared_length_over_the_cap_is_413():
    response = await post(b"{}" + b" " * LIMIT)

    assert response.status_code == 413


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize("method", ["BREW", "PROPFIND", "X" * 200])
async def test_a_method_we_do_not_serve_is_labelled_other(method):
    transport = httpx.ASGITransport(app=RequestMetrics(_ok))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.request(method, "/anything")
        await client.request("DELETE", "/anything")

    metrics = generate_latest(REGISTRY).decode()

    assert f'method="{method}"' not in metrics
    assert 'method="other"' in metrics
    assert 'method="DELETE"' in metrics
