"""The API's clients, built once in the lifespan and handed to routes as typed dependencies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import Client

from api.auth import KeyCache
from core.config import Settings
from core.db import SessionFactory
from core.logging import job_id_var
from core.media_urls import MediaSigner
from core.replicate import ReplicateClient
from core.storage import Storage
from core.temporal import connect_temporal

# Each call the API makes to Temporal (connect, start, signal, cancel) answers in milliseconds.
# One that hangs (a paused or partitioned server) would hold its request, and while a job is
# submitted a database transaction too, for as long as the client waits: past this, it is a 503.
TEMPORAL_RPC_TIMEOUT = timedelta(seconds=5)
UPLOAD_STORES_AT_ONCE = 2


class DependencyUnavailable(Exception):
    """A dependency is down; the request changed nothing (answered 503)."""


@dataclass
class TemporalConnector:
    """Connects on first use, so the API starts (and answers 503) while Temporal is down."""

    settings: Settings
    _client: Client | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await asyncio.wait_for(
                            connect_temporal(self.settings, rpc_timeout=TEMPORAL_RPC_TIMEOUT),
                            TEMPORAL_RPC_TIMEOUT.total_seconds(),
                        )
                    except Exception as exc:
                        raise DependencyUnavailable(f"Temporal is unreachable: {exc}") from exc
        return self._client


@dataclass
class Services:
    """Everything a request may need, built once per process."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    temporal: TemporalConnector
    storage: Storage
    provider: ReplicateClient
    signer: MediaSigner
    keys: KeyCache
    # The provider's last health probe (its result and when, monotonic), kept so that
    # /health/detailed does not spend the provider's rate limit on every call.
    provider_probe: tuple[dict[str, Any], float] | None = None
    # Uploads being copied into the bucket at once: each holds up to one S3 part (5 MB) in
    # memory, so a burst of uploads waits here instead (docs/BENCHMARKS.md, figure 9).
    upload_stores: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(UPLOAD_STORES_AT_ONCE)
    )


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings_dep(services: ServicesDep) -> Settings:
    return services.settings


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    async with services.sessions() as session:
        yield session


async def get_temporal(services: ServicesDep) -> Client:
    return await services.temporal.get()


def get_storage(services: ServicesDep) -> Storage:
    return services.storage


def get_signer(services: ServicesDep) -> MediaSigner:
    return services.signer


async def bind_job_id(job_id: uuid.UUID) -> uuid.UUID:
    """Path parameter `job_id`, also put on every log line of the request.

    Async, so it runs in the request's own context: FastAPI runs a plain `def` dependency
    in a worker thread, whose copy of the context (and the id set in it) is then dropped.
    """
    job_id_var.set(str(job_id))
    return job_id


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
StorageDep = Annotated[Storage, Depends(get_storage)]
SignerDep = Annotated[MediaSigner, Depends(get_signer)]
JobIdDep = Annotated[uuid.UUID, Depends(bind_job_id)]
