"""User webhooks are signed (Standard Webhooks) with the owner's secret, and retried with
the same `webhook-id` until the receiver takes them; the retries are not the job's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from core.webhook_secrets import webhook_secret
from tests.deploy.test_readme import fenced_blocks
from tests.pipeline.conftest import read_row, submit, wait_for
from tests.pipeline.receivers import Receiver, serving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as server:
        yield server


@pytest.fixture
def flaky() -> Iterator[Receiver]:
    with serving(failures=2) as server:
        yield server


async def _calls(receiver: Receiver, count: int, within: float = 30) -> None:
    for _ in range(int(within * 10)):
        if len(receiver.calls) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(receiver.calls)} calls, expected {count}")


async def _key(api) -> str:
    response = await api.get("/api/v1/webhooks/secret")
    assert response.status_code == 200, response.text
    key: str = response.json()["key"]
    assert key.startswith("whsec_")
    return key


async def test_the_secret_is_the_owners_and_stays(api):
    assert await _key(api) == await _key(api)
    response = await api.get("/api/v1/webhooks/secret", headers={"Authorization": ""})
    assert response.status_code == 401


async def test_first_uses_at_once_agree_on_one_secret(sessions):
    async def one() -> str:
        async with sessions() as session:
            return await webhook_secret(session, "owner-racing-for-a-secret")

    secrets = await asyncio.gather(*(one() for _ in range(8)))
    assert len(set(secrets)) == 1


async def test_a_receiver_verifies_our_signature(api, receiver):
    key = await _key(api)
    job = await submit(api, "a signed fox", webhook_url=receiver.url)
    await wait_for(api, job["id"], {"completed"})
    await _calls(receiver, 1)

    headers, body = receiver.calls[0]
    document: dict[str, Any] = Webhook(key).verify(body, headers)
    assert document["id"] == job["id"]
    assert document["status"] == "completed"
    assert json.loads(body) == document  # the body is the job document
    assert headers["webhook-id"] == f"{job['id']}:completed"
    assert headers["webhook-event"] == "job.completed"
    assert headers["webhook-signature"].startswith("v1,")


def _readme_verifier() -> Any:
    """The `verified` function the README gives receivers, taken from the README itself."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    [code] = [block.body for block in fenced_blocks(readme) if "def verified(" in block.body]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["verified"]


async def test_the_readmes_receiver_code_verifies_our_signature(api, receiver):
    verified = _readme_verifier()
    key = await _key(api)
    job = await submit(api, "a fox the readme checks", webhook_url=receiver.url)
    await wait_for(api, job["id"], {"completed"})
    await _calls(receiver, 1)

    headers, body = receiver.calls[0]
    assert verified(key, headers, body)
    assert not verified(key, headers, body.replace(b"completed", b"canceled!"))
    assert not verified("whsec_" + key[-8:] * 4, headers, body)


async def test_a_failing_receiver_gets_the_same_webhook_id_until_it_answers(api, sessions, flaky):
    key = await _key(api)
    job = await submit(api, "a patient fox", webhook_url=flaky.url)
    await wait_for(api, job["id"], {"completed"})
    await _calls(flaky, 3, within=40)

    ids = {headers["webhook-id"] for headers, _ in flaky.calls}
    assert ids == {f"{job['id']}:completed"}
    for headers, body in flaky.calls:
        Webhook(key).verify(body, headers)
    await asyncio.sleep(3)
    assert len(flaky.calls) == 3  # the 204 ended it
    assert (await read_row(sessions, job["id"])).retry_count == 0
