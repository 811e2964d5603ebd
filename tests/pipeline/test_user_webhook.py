"""The user's `webhook_url` receives the final job document when the job ends, however it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.pipeline.conftest import submit, wait_for
from tests.pipeline.receivers import Receiver, serving
from tests.pipeline.uploading import png, upload


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as server:
        yield server


async def test_the_webhook_hears_of_completed_and_failed_jobs(api, receiver):
    done = await submit(api, "a notified fox", webhook_url=receiver.url)
    failed = await submit(api, "[nsfw] a notified fox", webhook_url=receiver.url)
    await wait_for(api, done["id"], {"completed"})
    await wait_for(api, failed["id"], {"failed"})

    for _ in range(100):
        if len(receiver.documents) >= 2:
            break
        await asyncio.sleep(0.1)

    by_id = {document["id"]: document for document in receiver.documents}
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

    for _ in range(100):
        if any(document["id"] == job["id"] for document in receiver.documents):
            break
        await asyncio.sleep(0.1)

    [told] = [document for document in receiver.documents if document["id"] == job["id"]]
    assert (told["kind"], told["status"]) == ("process", "completed")
    assert [variant["name"] for variant in told["variants"]] == ["thumbnail"]
