"""The user's `webhook_url` receives the final job document when the job ends, however it ends."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.pipeline.conftest import submit, wait_for


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.documents: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.documents.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


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
