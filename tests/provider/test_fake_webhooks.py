"""The fake's webhooks: signed, following the prediction, filtered by event, retried."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import httpx
import orjson
import pytest
from replicate.webhook import Webhooks, WebhookSigningSecret

from tests.provider.conftest import FakeServer, WebhookReceiver
from tests.provider.fake_calls import (
    created,
)


def _verify(secret: str, received: Any) -> None:
    """Check the signature by hand, then with the replicate client's own validator."""
    headers, body = received.headers, received.body
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 30
    Webhooks.validate(
        headers=headers, body=body.decode(), secret=WebhookSigningSecret(key=secret), tolerance=30
    )


def test_webhooks_are_signed_and_follow_the_prediction(
    api: httpx.Client, receiver: WebhookReceiver
) -> None:
    secret = api.get("/webhooks/default/secret").json()["key"]
    prediction = created(
        api, {"prompt": "hooked", "width": 64, "height": 64}, wait=None, webhook=receiver.url
    )

    # All four events by default: start, logs (processing), output and completed (succeeded).
    requests = receiver.wait_for(lambda requests: len(requests) == 4)
    bodies = [orjson.loads(r.body) for r in requests]
    assert {b["id"] for b in bodies} == {prediction["id"]}
    statuses = sorted(b["status"] for b in bodies)
    assert statuses == ["processing", "starting", "succeeded", "succeeded"]
    final = next(b for b in bodies if b["status"] == "succeeded")
    assert len(final["output"]) == 1
    assert final["output"] == api.get(f"/predictions/{prediction['id']}").json()["output"]
    for received in requests:
        _verify(secret, received)
    with pytest.raises(ValueError, match="invalid"):
        Webhooks.validate(
            headers=requests[0].headers,
            body=requests[0].body.decode() + " ",
            secret=WebhookSigningSecret(key=secret),
        )


def test_webhook_filter_cancel_and_retries(
    api: httpx.Client, fake: FakeServer, receiver: WebhookReceiver
) -> None:
    receiver.fail_first = 1
    before = fake.state()["webhooks"]
    prediction = created(
        api,
        {"prompt": "filtered", "fake": {"latency": 30}},
        wait=None,
        webhook=receiver.url,
        webhook_events_filter=["completed"],
    )
    api.post(f"/predictions/{prediction['id']}/cancel")

    [only] = receiver.wait_for(lambda requests: len(requests) == 1)
    assert orjson.loads(only.body)["status"] == "canceled"
    after = fake.state()["webhooks"]
    assert after["retried"] == before["retried"] + 1
    assert after["sent"] == before["sent"] + 1


def test_logs_webhooks_follow_the_growing_logs(
    api: httpx.Client, fake: FakeServer, receiver: WebhookReceiver
) -> None:
    before = fake.state()["webhook_events"].get("logs", 0)
    created(
        api,
        {"prompt": "logged", "num_inference_steps": 4, "fake": {"latency": 3}},
        wait=None,
        webhook=receiver.url,
        webhook_events_filter=["logs", "completed"],
    )

    requests = receiver.wait_for(lambda requests: any(b"succeeded" in r.body for r in requests))
    bodies = [orjson.loads(r.body) for r in requests]
    logs = [body for body in bodies if body["status"] == "processing"]
    # One at each tqdm line (0.675 s apart here), never two within 0.5 s, none after the end.
    assert len(logs) == 4
    assert [body["logs"].count("it/s]") for body in logs] == [1, 2, 3, 4]
    assert [body["status"] for body in bodies][-1] == "succeeded"
    assert fake.state()["webhook_events"]["logs"] == before + 4
