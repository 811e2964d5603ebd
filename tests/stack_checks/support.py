"""What the stack's tests share: default ports, process trees, S3 and SQL access, port holding."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import psutil  # type: ignore[import-untyped,unused-ignore]
import pytest
from miniopy_async.api import Minio

from devstack import StackSettings
from devstack.health import asyncpg_dsn
from devstack.isolated import TEST_ENV, settings_env
from devstack.servers import ROOT

DEFAULT_PORTS = (5432, 7233, 8000, 8233, 8333)
# Ports the servers would take if not told otherwise (SeaweedFS has many).
FIXED_PORTS = {5432, 7233, 8233, 8000, 8100, 9464, 8333, 18333, 9333, 19333, 9340, 19340}
FIXED_PORTS |= {8080, 18080, 8888, 18888, 23646, 33646, 8181, 9101, 6060, 7333}


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `condition` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def process_tree(pids: Iterator[int] | list[int]) -> list[psutil.Process]:
    """The processes `pids` and all their descendants."""
    procs: list[psutil.Process] = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return procs


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `procs` still running (zombies count as gone)."""
    living = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                living.append(proc)
        except psutil.NoSuchProcess:
            continue
    return living


def mentioning(path: Path) -> list[psutil.Process]:
    """Running processes whose command line mentions `path` (our children all do)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(path) in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return alive(found)


def s3_client(settings: StackSettings, secret: str | None = None, key: str | None = None) -> Minio:
    return Minio(
        settings.s3_endpoint,
        access_key=key or settings.s3_access_key.get_secret_value(),
        secret_key=secret or settings.s3_secret_key.get_secret_value(),
        secure=False,
        region=settings.s3_region,
    )


async def put_object(settings: StackSettings, name: str, data: bytes) -> None:
    client = s3_client(settings)
    try:
        await client.put_object(settings.s3_bucket, name, io.BytesIO(data), len(data))
    finally:
        await client.close_session()


async def get_object(settings: StackSettings, name: str) -> bytes:
    client = s3_client(settings)
    try:
        response = await client.get_object(settings.s3_bucket, name)
        try:
            return bytes(await response.read())
        finally:
            response.release()
    finally:
        await client.close_session()


async def sql(settings: StackSettings, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


@contextmanager
def running_up(
    settings: StackSettings, log: Path, *args: str, ready: str = "is up in"
) -> Iterator[tuple[subprocess.Popen[bytes], Callable[[], str]]]:
    """`python -m devstack up *args` (as `make up` runs it) until `ready` is printed: the process
    and a reader of everything it printed. Killed at the end if it still runs."""
    env = {**os.environ, **settings_env(settings), **TEST_ENV, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "devstack", "up", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: ready in log.read_text() or up.poll() is not None, 180, "up")
        assert up.poll() is None, log.read_text()
        yield up, log.read_text
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def hold_ports(ports: tuple[int, ...]) -> tuple[list[socket.socket], list[int]]:
    """Listen on every port of `ports` we can; the sockets, and the ports someone else holds."""
    held, foreign = [], []
    for port in ports:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            held.append(sock)
        except OSError:
            sock.close()
            foreign.append(port)
    return held, foreign
