"""A webhook receiver the tests run on 127.0.0.1 (an allowed host of the test stack)."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver(ThreadingHTTPServer):
    """Records each call's headers (lower-cased) and body; answers `failures` 500s, then 204."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def documents(self) -> list[dict[str, Any]]:
        """The bodies received, as JSON."""
        return [json.loads(body) for _, body in self.calls]

    @property
    def hosts_and_bodies(self) -> list[tuple[str, bytes]]:
        """Each call's `Host` header and body."""
        return [(headers["host"], body) for headers, body in self.calls]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
        failing = len(self.server.calls) <= self.server.failures
        self.send_response(500 if failing else 204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(failures: int = 0, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A receiver answering in a thread of its own (over TLS with `tls`) until the block ends."""
    server = Receiver(failures)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
