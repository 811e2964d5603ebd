"""Fixtures that run the fake Replicate as a real server (`python -m devstack.fake_replicate`).

The server runs in a subprocess started from a scratch directory, so a developer's `.env` or
`FAKE_REPLICATE_*` variables cannot change what the tests see; the environment given here is
all it reads.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from replicate.client import Client

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token"
BASE_ENV = {
    "LATENCY_MIN": "0.2",
    "LATENCY_MAX": "0.4",
    "PAGE_SIZE": "5",
    "WEBHOOK_BACKOFF_SECONDS": "0.1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class FakeServer:
    base_url: str  # what the replicate client takes; our service uses f"{base_url}/v1"
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1"

    def state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/_fake/state")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for the `/v1` API, with a token unless `headers` says otherwise."""
        kwargs.setdefault("headers", {"Authorization": f"Bearer {TOKEN}"})
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.api_url, **kwargs)


@contextmanager
def run_fake(workdir: Path, **env: str) -> Iterator[FakeServer]:
    """Start a fake on a free port with these `FAKE_REPLICATE_*` values (names without prefix)."""
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_REPLICATE_")}
    environ |= {f"FAKE_REPLICATE_{k}": v for k, v in (BASE_ENV | env).items()}
    environ |= {"FAKE_REPLICATE_HOST": "127.0.0.1", "FAKE_REPLICATE_PORT": str(port)}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"fake-replicate-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack.fake_replicate"],
            cwd=workdir,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = FakeServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"fake exited {process.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"fake did not start: {log.read_text()}")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    errors = [line for line in log.read_text().splitlines() if "Traceback" in line]
    assert not errors, f"the fake logged errors:\n{log.read_text()}"


@pytest.fixture(scope="session")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeServer]:
    with run_fake(tmp_path_factory.mktemp("fake")) as server:
        yield server


@pytest.fixture
def make_fake(tmp_path: Path) -> Callable[..., AbstractContextManager[FakeServer]]:
    """A factory for a separately configured fake, e.g. `with make_fake(SEED="1") as f:`."""
    return lambda **env: run_fake(tmp_path, **env)


@pytest.fixture
def api(fake: FakeServer) -> Iterator[httpx.Client]:
    with fake.client() as client:
        yield client


def replicate_client(fake: FakeServer, token: str | None = TOKEN) -> Client:
    client = Client(api_token=token, base_url=fake.base_url)
    client.poll_interval = 0.05
    return client


def close_sync(client: Client) -> None:
    """The client never closes its httpx.Client itself (an unclosed socket warns)."""
    http: httpx.Client | None = getattr(client, "_Client__client", None)
    if http is not None:
        http.close()


@pytest.fixture
def rep(fake: FakeServer) -> Iterator[Client]:
    client = replicate_client(fake)
    yield client
    close_sync(client)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A tiny HTTP server that records POSTs; the first `fail_first` get a 500."""

    url: str = ""
    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)
    seen: int = 0

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 10
    ) -> list[Received]:
        with self.condition:
            if not self.condition.wait_for(lambda: predicate(self.requests), timeout):
                raise AssertionError(f"webhooks not received in time: {self.requests}")
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    state = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with state.condition:
                state.seen += 1
                failing = state.seen <= state.fail_first
                if not failing:
                    state.requests.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                state.condition.notify_all()
            self.send_response(500 if failing else 204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
