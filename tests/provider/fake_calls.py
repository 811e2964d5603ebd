"""Calls to the fake over plain HTTP that its tests share: create a prediction, download, wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

FLUX = "/models/black-forest-labs/flux-schnell/predictions"
PROBLEM = "application/problem+json"


def create(
    api: httpx.Client,
    data: dict[str, Any],
    *,
    wait: str | None = "wait",
    headers: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    sent = ({"Prefer": wait} if wait else {}) | (headers or {})
    return api.post(FLUX, json={"input": data, **body}, headers=sent)


def created(api: httpx.Client, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = create(api, data, **kwargs)
    assert response.status_code == 201, response.text
    prediction: dict[str, Any] = response.json()
    return prediction


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `check` until it holds or `timeout` passes (the box may be busy)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def download(url: str) -> httpx.Response:
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    return response
