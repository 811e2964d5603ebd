"""The FastAPI app: `create_app()` and its lifespan, which builds every client once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.auth import KeyCache
from api.deps import Services, TemporalConnector
from api.errors import install_error_handlers
from api.job_events import JobEventHub
from api.middleware import BodySizeLimit, RequestMetrics
from api.routes import events, jobs, media, service, ui, uploads, webhook_secret, webhooks
from api.routes.docs import install_docs
from api.starter import WORKFLOW_STARTS_CHANNEL, WorkflowStarter
from api.upload_dirs import sweep_stale_upload_dirs
from core.config import Settings, get_settings, required_or_exit
from core.db import make_engine, make_session_factory
from core.logging import configure_logging
from core.media_urls import MediaSigner
from core.replicate import ReplicateClient
from core.storage import Storage
from core.version import VERSION

log = logging.getLogger(__name__)
DESCRIPTION = """Media generation where every job is a Temporal workflow.

`POST /api/v1/generate` records a job, whose workflow starts at once (`POST /api/v1/uploads`:
an image to make variants of); `GET /api/v1/status/{id}`
follows it; `GET /api/v1/download/{id}` streams the result. The job id is the workflow id,
so the Temporal Web UI finds a job by the id this API returns.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if swept := await asyncio.to_thread(sweep_stale_upload_dirs):
        log.info("removed %d upload directories a stopped API left behind", swept)
    async with AsyncExitStack() as stack:
        engine = make_engine(settings)
        stack.push_async_callback(engine.dispose)
        storage = Storage.from_settings(settings)
        stack.push_async_callback(storage.close)
        provider_http = await stack.enter_async_context(
            ReplicateClient.build_http(
                settings.provider_base_url,
                settings.replicate_api_token.get_secret_value(),
                timeout=5.0,
            )
        )
        sessions = make_session_factory(engine)
        temporal = TemporalConnector(settings)
        starter = WorkflowStarter(sessions, temporal, settings)
        starter.start()
        stack.push_async_callback(starter.close)
        hub = JobEventHub.from_settings(settings)
        hub.also_listen(WORKFLOW_STARTS_CHANNEL, starter.wake)
        hub.start()
        stack.push_async_callback(hub.close)
        app.state.job_events = hub
        app.state.services = Services(
            settings=settings,
            engine=engine,
            sessions=sessions,
            temporal=temporal,
            storage=storage,
            provider=ReplicateClient(provider_http),
            signer=MediaSigner.from_settings(settings),
            keys=KeyCache(sessions),
        )
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app (`uvicorn --factory api.main:create_app`); exits at once if no provider is set."""
    settings = settings or get_settings()
    required_or_exit(settings)
    configure_logging(settings)
    app = FastAPI(
        title="mediagen",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: install_docs, with assets served from /static
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_docs(app)
    for module in (jobs, events, uploads, media, service, webhook_secret, webhooks, ui):
        app.include_router(module.router)
    app.include_router(service.admin)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[
            "Location",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        ],
    )
    app.add_middleware(
        BodySizeLimit, limit=settings.max_body_bytes, exempt=frozenset({uploads.UPLOADS_PATH})
    )
    app.add_middleware(RequestMetrics)
    return app
