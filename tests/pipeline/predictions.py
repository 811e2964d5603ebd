"""The fake provider in tests: its predictions, and strays made behind our back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

AUTH = {"Authorization": "Bearer r8_test"}
FLUX = "/v1/models/black-forest-labs/flux-schnell/predictions"


async def predictions_for(provider: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    """Every prediction the fake holds whose webhook names the job, read page by page."""
    found, url = [], "/v1/predictions"
    while url:
        page = (await provider.get(url, headers=AUTH)).json()
        for item in page["results"]:
            full = (
                item
                if "webhook" in item
                else (await provider.get(f"/v1/predictions/{item['id']}", headers=AUTH)).json()
            )
            if job_id in (full.get("webhook") or ""):
                found.append(full)
        url = page.get("next") or ""
    return found


async def stray_prediction(provider: httpx.AsyncClient, hook: str, prompt: str) -> dict[str, Any]:
    """A slow prediction created at the fake behind the service's back, naming `hook`."""
    response = await provider.post(
        FLUX,
        json={
            "input": {"prompt": prompt, "fake": {"latency": 30}},
            "webhook": hook,
            "webhook_events_filter": ["start", "completed"],
        },
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    prediction: dict[str, Any] = response.json()
    return prediction


async def until(check, provider, job_id, within=60.0) -> list[dict[str, Any]]:
    """The job's predictions, once `check` holds for them or `within` s have passed."""
    deadline = time.monotonic() + within
    while True:
        found = await predictions_for(provider, job_id)
        if check(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)
