"""The API's clients give up on a dependency that stops answering: S3 and Temporal."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

import core.storage
from core.config import Settings
from core.storage import Storage
from core.temporal import RpcDeadline


def storage_at(port: int) -> Storage:
    settings = Settings(
        _env_file=None, s3_endpoint=f"127.0.0.1:{port}", s3_secret_key="s", replicate_base_url="x"
    )
    return Storage.from_settings(settings)


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts connections and then never answers."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


@pytest.fixture
def full_backlog() -> Any:
    """A port whose accept queue is full, so a new connect hangs (Linux drops the SYN)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


async def test_storage_gives_up_on_a_store_that_does_not_answer(silent_server, monkeypatch):
    monkeypatch.setattr(core.storage, "S3_READ_TIMEOUT", 0.5)
    storage = storage_at(silent_server)
    try:
        with pytest.raises(aiohttp.ServerTimeoutError):
            await asyncio.wait_for(storage.ping(), 10)
    finally:
        await storage.close()


async def test_storage_gives_up_on_a_store_that_does_not_accept(full_backlog, monkeypatch):
    monkeypatch.setattr(core.storage, "S3_CONNECT_TIMEOUT", 0.5)
    storage = storage_at(full_backlog)
    try:
        with pytest.raises(aiohttp.ServerTimeoutError):
            await asyncio.wait_for(storage.ping(), 10)
    finally:
        await storage.close()


class Recorder:
    """The next outbound interceptor: records the deadline each call reached it with."""

    def __init__(self) -> None:
        self.seen: dict[str, timedelta | None] = {}

    def __getattr__(self, name: str) -> Any:
        def call(input: Any) -> asyncio.Future[None]:
            self.seen[name] = input.rpc_timeout
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)  # awaited by the async calls, ignored by the iterator ones
            return done

        return call


UNARY = ["start_workflow", "cancel_workflow", "terminate_workflow", "signal_workflow"]


@pytest.mark.parametrize("call", [*UNARY, "describe_workflow"])
async def test_every_unary_temporal_call_gets_the_deadline(call):
    recorder = Recorder()
    outbound = RpcDeadline(timedelta(seconds=3)).intercept_client(recorder)  # type: ignore[arg-type]

    await getattr(outbound, call)(SimpleNamespace(rpc_timeout=None))
    assert recorder.seen[call] == timedelta(seconds=3)
    await getattr(outbound, call)(SimpleNamespace(rpc_timeout=timedelta(seconds=1)))
    assert recorder.seen[call] == timedelta(seconds=1)  # a caller's own deadline stands


async def test_a_long_poll_keeps_no_deadline():
    recorder = Recorder()
    outbound = RpcDeadline(timedelta(seconds=3)).intercept_client(recorder)  # type: ignore[arg-type]

    outbound.fetch_workflow_history_events(SimpleNamespace(rpc_timeout=None))  # type: ignore[arg-type]

    assert recorder.seen["fetch_workflow_history_events"] is None
