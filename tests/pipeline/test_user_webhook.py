"""The user's `webhook_url` receives the final job document when the job ends, however it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.pipeline.conftest import submit, wait_for
from tests.pipeline.receivers import Receiver, serving


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
