"""Every error is JSON with a `detail` and the right code; a dependency that is down is a 503."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from miniopy_async.error import MinioException
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from api.deps import DependencyUnavailable
from core.replicate import ProviderError

log = logging.getLogger(__name__)

# Failures of a dependency, by exception type: each answers 503 naming what is down.
_UNAVAILABLE: dict[type[Exception], str] = {
    DependencyUnavailable: "a dependency",
    SQLAlchemyError: "the database",
    OSError: "a dependency",  # refused connections and timeouts of any client
    RPCError: "Temporal",
    MinioException: "the object store",
    # The API calls the provider itself only for the webhook secret.
    ProviderError: "the provider",
}


def _unavailable(what: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(_: Request, exc: Exception) -> Response:
        log.warning("%s is unavailable: %s: %s", what, type(exc).__name__, exc)
        return JSONResponse(
            {"detail": f"{what} is unavailable; nothing was changed, try again shortly"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    return handler


def _invalid(exc: RequestValidationError) -> Response:
    """422 naming each field and why, without echoing the input back.

    The input may be large, or hold text (lone surrogates) that cannot even be encoded
    as UTF-8; ASCII-escaped JSON always can.
    """
    detail = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    body = json.dumps({"detail": detail}, ensure_ascii=True, default=str)
    return Response(body, status_code=422, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    """Map dependency failures to 503, and anything unexpected to a logged JSON 500."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return _invalid(exc)

    for exc_type, what in _UNAVAILABLE.items():
        app.add_exception_handler(exc_type, _unavailable(what))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"detail": "internal error"}, status_code=500)
