"""Health probes of the stack's servers: each answers True once its server does real work.

Probes are synchronous (the supervisor is) and never raise: a failure is just "not yet".
They run on the supervisor's control thread, where no event loop runs, so `asyncio.run` is safe.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import httpx
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from core.search_attributes import REGISTERED
from core.storage import Storage
from devstack.settings import StackSettings

T = TypeVar("T")
Probe = Callable[[], bool]


def _run(make: Callable[[], Awaitable[T]], timeout: float = 5.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(make(), timeout)

    return asyncio.run(bounded())


def tcp_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def http_ok(url: str, *, accept: tuple[int, ...] = (200,)) -> bool:
    """Whether GET `url` answers with one of the `accept` statuses."""
    try:
        return httpx.get(url, timeout=2.0).status_code in accept
    except httpx.HTTPError:
        return False


def asyncpg_dsn(database_url: str, database: str | None = None) -> str:
    """The SQLAlchemy URL as a plain libpq DSN, optionally naming another database."""
    parts = urlsplit(database_url)
    scheme = parts.scheme.split("+", 1)[0]
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit((scheme, parts.netloc, path, parts.query, parts.fragment))


def postgres_ready(database_url: str, database: str = "postgres") -> bool:
    """Whether PostgreSQL answers `SELECT 1` on `database`."""

    async def probe() -> bool:
        conn = await asyncpg.connect(asyncpg_dsn(database_url, database), timeout=3)
        try:
            return bool(await conn.fetchval("SELECT 1") == 1)
        finally:
            await conn.close()

    try:
        return _run(probe)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False


def _type_name(kind: str) -> str:
    """`KeywordList` -> `INDEXED_VALUE_TYPE_KEYWORD_LIST`."""
    return "INDEXED_VALUE_TYPE_" + re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()


async def missing_search_attributes(client: Client, namespace: str) -> dict[str, str]:
    """The entries of `REGISTERED` that the namespace lacks (or has with another type)."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    have = {name: IndexedValueType.Name(kind) for name, kind in listed.custom_attributes.items()}
    return {name: kind for name, kind in REGISTERED.items() if have.get(name) != _type_name(kind)}


async def _connect(address: str, namespace: str) -> Client:
    return await Client.connect(address, namespace=namespace, connect_timeout=timedelta(seconds=3))


def temporal_ready(address: str, namespace: str, ui_url: str | None) -> bool:
    """Whether Temporal answers, knows the job search attributes and (if given) its UI answers."""

    async def probe() -> bool:
        client = await _connect(address, namespace)
        await client.workflow_service.get_system_info(GetSystemInfoRequest())
        return not await missing_search_attributes(client, namespace)

    try:
        if not _run(probe):
            return False
    except Exception:  # the SDK raises RuntimeError/RPCError variants while the server boots
        return False
    return ui_url is None or http_ok(ui_url)


def register_search_attributes(address: str, namespace: str) -> None:
    """Add the job search attributes to an (external) Temporal namespace that lacks them."""

    async def register() -> None:
        client = await _connect(address, namespace)
        missing = await missing_search_attributes(client, namespace)
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={
                        name: IndexedValueType.Value(_type_name(kind))
                        for name, kind in missing.items()
                    },
                )
            )

    _run(register, timeout=30)


def s3_ready(settings: StackSettings) -> bool:
    """Whether the object store accepts the configured identity and has the media bucket."""

    async def probe() -> bool:
        storage = Storage.from_settings(settings)
        try:
            await storage.ping()
        finally:
            await storage.close()
        return True

    try:
        return _run(probe)
    except Exception:  # connection errors, S3Error (AccessDenied while IAM loads), timeouts
        return False
