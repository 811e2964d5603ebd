"""The user's `webhook_url` receives the final job document when the job ends, however it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pipeline.conftest import submit, wait_for
from tests.pipeline.receivers import Receiver, serving
from tests.pipeline.uploading import png, upload


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as server:
        yield server


async def heard(receiver: Receiver, *job_ids: str) -> dict[str, dict[str, Any]]:
    """The documents the receiver got, by job id, once it has one of each job (10 s at most)."""
    for _ in range(100):
        by_id = {document["id"]: document for document in receiver.documents}
        if set(job_ids) <= set(by_id):
            break
        await asyncio.sleep(0.1)
    return by_id


async def test_the_webhook_hears_of_completed_and_failed_jobs(api, receiver):
    done = await submit(api, "a notified fox", webhook_url=receiver.url)
    failed = await submit(api, "[nsfw] a notified fox", webhook_url=receiver.url)
    await wait_for(api, done["id"], {"completed"})
    await wait_for(api, failed["id"], {"failed"})

    by_id = await heard(receiver, done["id"], failed["id"])
    assert by_id[done["id"]]["status"] == "completed"
    assert by_id[done["id"]]["outputs"][0]["sha256"]
    assert by_id[failed["id"]]["status"] == "failed"
    assert by_id[failed["id"]]["error"]["type"] == "UserInputError"


async def test_an_upload_tells_its_webhook_of_its_end(api, receiver):
    response = await upload(api, png(), variants="thumbnail", webhook_url=receiver.url)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["webhook_url"] == receiver.url
    await wait_for(api, job["id"], {"completed"})

    told = (await heard(receiver, job["id"]))[job["id"]]
    assert [d["id"] for d in receiver.documents].count(job["id"]) == 1
    assert (told["kind"], told["status"]) == ("process", "completed")
    assert [variant["name"] for variant in told["variants"]] == ["thumbnail"]
