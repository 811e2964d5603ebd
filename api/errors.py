"""Every error is JSON with a `detail` and the right code; a dependency that is down is a 503."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from miniopy_async.error import MinioException
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from api.deps import DependencyUnavailable

log = logging.getLogger(__name__)

_DESCRIPTIONS = {
    404: "No job (or object) has that id",
    409: "Conflict: the job's state, or an Idempotency-Key used with another body",
    413: "The request body is too large",
    422: "Invalid input: `detail` says which field and why",
    429: "Rate limited: retry after `Retry-After` seconds",
    503: "A dependency is down; the request changed nothing",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error codes a route can answer."""
    return {
        code: {
            "description": _DESCRIPTIONS[code],
            "content": {"application/json": {"example": {"detail": _DESCRIPTIONS[code]}}},
        }
        for code in codes
    }


def _unavailable(what: str) -> JSONResponse:
    return JSONResponse(
        {"detail": f"{what} is unavailable; nothing was changed, try again shortly"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


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

    @app.exception_handler(DependencyUnavailable)
    async def _dependency(_: Request, exc: DependencyUnavailable) -> JSONResponse:
        log.warning("%s", exc)
        return _unavailable("a dependency")

    @app.exception_handler(SQLAlchemyError)
    async def _database(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.warning("database error: %s", type(exc).__name__)
        return _unavailable("the database")

    @app.exception_handler(OSError)
    async def _connection(_: Request, exc: OSError) -> JSONResponse:
        log.warning("connection error: %s", exc)
        return _unavailable("a dependency")

    @app.exception_handler(RPCError)
    async def _temporal(_: Request, exc: RPCError) -> JSONResponse:
        log.warning("Temporal error: %s", exc)
        return _unavailable("Temporal")

    @app.exception_handler(MinioException)
    async def _storage(_: Request, exc: MinioException) -> JSONResponse:
        log.warning("object store error: %s", exc)
        return _unavailable("the object store")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"detail": "internal error"}, status_code=500)
