"""`create_app(settings)`: the fake Replicate predictions API as a FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from devstack.fake_replicate import routes_files, routes_misc, routes_predictions
from devstack.fake_replicate.problems import (
    ProblemError,
    on_http_error,
    on_problem,
    on_validation_error,
)
from devstack.fake_replicate.routes_files import TruncatedDownload
from devstack.fake_replicate.runtime import Runtime
from devstack.fake_replicate.settings import FakeReplicateSettings
from devstack.fake_replicate.state import Counters


class _CountLeakedTokens:
    """Counts requests that carried `Authorization` to anything but the `/v1` API: a client
    that sends its token to output files (or anywhere else) leaks it. Pure ASGI, so the
    connection faults (dropped answers, truncated bodies) pass through unchanged."""

    def __init__(self, app: ASGIApp, counters: Counters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outside = scope["type"] == "http" and not str(scope.get("path", "")).startswith("/v1/")
        if outside and any(name.lower() == b"authorization" for name, _ in scope["headers"]):
            self.counters.token_outside_api += 1
        await self.app(scope, receive, send)


class _HideTruncations(logging.Filter):
    """Drop uvicorn's "Exception in ASGI application" for downloads truncated on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        seen = 0
        while exc is not None and seen < 10:
            if isinstance(exc, TruncatedDownload):
                return False
            if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
                exc = exc.exceptions[0]
            else:
                exc = exc.__cause__ or exc.__context__
            seen += 1
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideTruncations) for f in logger.filters):
        logger.addFilter(_HideTruncations())


def create_app(settings: FakeReplicateSettings | None = None) -> FastAPI:
    """A fresh fake with its own predictions, counters and webhook client."""
    runtime = Runtime(settings or FakeReplicateSettings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.webhooks.start()
        try:
            yield
        finally:
            runtime.store.clear()
            await runtime.webhooks.close()

    app = FastAPI(
        title="fake-replicate", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.fake = runtime
    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.include_router(routes_predictions.router)
    app.include_router(routes_files.router)
    app.include_router(routes_files.delivery)
    app.add_middleware(_CountLeakedTokens, counters=runtime.counters)
    app.include_router(routes_misc.api)
    app.include_router(routes_misc.support)
    _install_log_filter()
    return app
