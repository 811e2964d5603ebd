"""The provider's webhook endpoint: odd bodies are a 422, a repeat is relayed once, and a
rotated provider secret heals without a restart (refetched at most once a minute)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from devstack.fake_replicate.webhooks import sign
from tests.pipeline.api_process import api_process
from tests.pipeline.conftest import submit, wait_for

AUTH = {"Authorization": "Bearer r8_test"}


async def provider_secret(provider: httpx.AsyncClient) -> str:
    response = await provider.get("/v1/webhooks/default/secret", headers=AUTH)
    assert response.status_code == 200, response.text
    key: str = response.json()["key"]
    return key


def signed(secret: str, body: bytes, msg_id: str | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def hook(job_id: str | uuid.UUID) -> str:
    return f"/api/v1/webhooks/replicate/{job_id}?attempt=1"


ENDED = json.dumps({"id": "p-ended", "status": "succeeded", "output": []}).encode()
ODD_BODIES = [
    b"[]",
    b'[{"id": "p", "status": "succeeded"}]',
    b'"a string"',
    b"42",
    b"null",
    b"true",
    b"{}",
    b'{"id": 7, "status": "succeeded"}',
    b'{"status": "succeeded"}',
    b'{"id": "p"}',
    b"{",
    b"[" * 100_000 + b"]" * 100_000,
    b"1" * 5000,
    b"\xff\xfe",
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=lambda body: body[:24].decode(errors="replace"))
async def test_a_signed_body_that_is_not_a_prediction_is_a_422(api, provider, body: bytes):
    secret = await provider_secret(provider)
    response = await api.post(hook(uuid.uuid4()), content=body, headers=signed(secret, body))

    assert response.status_code == 422, response.text
    assert "not a prediction" in response.json()["detail"]


async def test_a_prediction_with_fields_of_odd_types_is_acknowledged(api, provider):
    body = json.dumps(
        {
            "id": "p-odd",
            "status": ["succeeded"],
            "output": {"a": [1, None, {"b": 2}]},
            "error": {"nested": [1]},
            "logs": 12,
            "metrics": [1, 2],
            "created_at": {"x": 1},
            "started_at": 10**30,
            "completed_at": "yesterday",
        }
    ).encode()
    secret = await provider_secret(provider)
    response = await api.post(hook(uuid.uuid4()), content=body, headers=signed(secret, body))

    # A job that is not running: acknowledged (its unknown status reads as still running,
    # so the API asks the provider to cancel "p-odd", which it does not know: logged only).
    assert response.status_code == 200, response.text


def _signals_marked(events: Any, mark: str) -> int:
    return sum(
        1
        for event in events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and any(
            mark.encode() in payload.data
            for payload in event.workflow_execution_signaled_event_attributes.input.payloads
        )
    )


async def test_a_repeated_webhook_id_is_signalled_once(api, provider, temporal: Client):
    job = await submit(api, "a repeated heron", parameters={"fake": {"latency": 20}})
    await wait_for(api, job["id"], {"processing"})
    mark = f"mark-{uuid.uuid4().hex}"
    body = json.dumps(  # a `start` event of a prediction the job does not know
        {"id": f"stray-{uuid.uuid4().hex}", "status": "starting", "metrics": {"mark": mark}}
    ).encode()
    secret = await provider_secret(provider)
    msg_id = f"msg_{uuid.uuid4().hex}"
    try:
        answers = [
            await api.post(hook(job["id"]), content=body, headers=signed(secret, body, msg_id))
            for _ in range(3)
        ]
        history = await temporal.get_workflow_handle(job["id"]).fetch_history()
        other = await api.post(hook(job["id"]), content=body, headers=signed(secret, body))
        later = await temporal.get_workflow_handle(job["id"]).fetch_history()
    finally:
        await api.delete(f"/api/v1/jobs/{job['id']}")

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert _signals_marked(history.events, mark) == 1
    assert other.status_code == 200, other.text  # another delivery of the same body: relayed
    assert _signals_marked(later.events, mark) == 2


async def test_an_end_is_signalled_once_whichever_events_carry_it(api, provider, temporal: Client):
    """A fast prediction's `start`, `logs` and `completed` may each show it ended: one signal."""
    job = await submit(api, "a thrice-ended heron", parameters={"fake": {"latency": 20}})
    await wait_for(api, job["id"], {"processing"})
    stray = f"stray-{uuid.uuid4().hex}"
    body = json.dumps({"id": stray, "status": "canceled", "metrics": {"mark": stray}}).encode()
    secret = await provider_secret(provider)
    try:
        answers = [  # three events (three webhook ids), the same end
            await api.post(hook(job["id"]), content=body, headers=signed(secret, body))
            for _ in range(3)
        ]
        history = await temporal.get_workflow_handle(job["id"]).fetch_history()
    finally:
        await api.delete(f"/api/v1/jobs/{job['id']}")

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert _signals_marked(history.events, stray) == 1


async def _signals_for_own_event(api, provider, temporal: Client, **event: str) -> int:
    """Deliver one webhook event of a running job's own prediction (acknowledged: 200), then
    cancel the job; how many signals of the job's workflow carry that event."""
    job = await submit(api, "a heron", parameters={"fake": {"latency": 20}})
    document, _ = await wait_for(api, job["id"], {"processing"})
    mark = f"mark-{uuid.uuid4().hex}"
    body = json.dumps(
        {"id": document["external_job_id"], **event, "metrics": {"mark": mark}}
    ).encode()
    secret = await provider_secret(provider)
    try:
        answer = await api.post(hook(job["id"]), content=body, headers=signed(secret, body))
        history = await temporal.get_workflow_handle(job["id"]).fetch_history()
    finally:
        await api.delete(f"/api/v1/jobs/{job['id']}")
    assert answer.status_code == 200, answer.text
    return _signals_marked(history.events, mark)


async def test_a_start_of_the_jobs_own_prediction_is_no_signal(api, provider, temporal: Client):
    """The job named its prediction already: its `start` would tell the workflow nothing."""
    assert await _signals_for_own_event(api, provider, temporal, status="starting") == 0


async def test_a_running_predictions_event_is_no_signal(api, provider, temporal: Client):
    """Replicate's `logs` events come while a prediction is `processing`, many before its logs
    show any progress: none of them is a history event of the job's workflow."""
    signals = await _signals_for_own_event(
        api, provider, temporal, status="processing", logs="Loading pipeline components..."
    )
    assert signals == 0


async def test_a_rotated_provider_secret_heals_at_most_once_a_minute(stack, provider):
    original = await provider_secret(provider)
    async with (
        api_process(stack) as base_url,
        httpx.AsyncClient(base_url=base_url) as own_api,
    ):
        try:
            before = await own_api.post(
                hook(uuid.uuid4()), content=ENDED, headers=signed(original, ENDED)
            )
            rotated = (await provider.post("/_fake/webhook-secret")).json()["key"]
            healed = await own_api.post(
                hook(uuid.uuid4()), content=ENDED, headers=signed(rotated, ENDED)
            )
            again = (await provider.post("/_fake/webhook-secret")).json()["key"]
            too_soon = await own_api.post(
                hook(uuid.uuid4()), content=ENDED, headers=signed(again, ENDED)
            )
            forged = await own_api.post(
                hook(uuid.uuid4()), content=ENDED, headers=signed(rotated[:-4] + "AAA=", ENDED)
            )
        finally:
            restored = await provider.post("/_fake/webhook-secret", json={"key": original})

    assert restored.status_code == 200, restored.text
    assert rotated != original
    assert before.status_code == 200, before.text
    assert healed.status_code == 200, healed.text  # fetched the new secret, then verified
    # Rotated again within the minute: the API does not ask the provider again yet.
    assert too_soon.status_code == 401, too_soon.text
    assert forged.status_code == 401, forged.text
    assert (await provider_secret(provider)) == original
