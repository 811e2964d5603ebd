"""Every error is JSON with a `detail` and the right code; a dependency that is down is a 503.

A 503 says "try again", so it is kept for a dependency that is down or busy. A statement the
database refuses (a value it cannot hold, a conflict, a bug of ours) fails the same way every
time: it is a 4xx when the request caused it, else a 500, never a 503.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from miniopy_async.error import MinioException
from sqlalchemy import exc as sa_exc
from temporalio.service import RPCError

from api.deps import DependencyUnavailable
from core.replicate import ProviderError

log = logging.getLogger(__name__)

# Failures of a dependency, by exception type: each answers 503 naming what is down.
_UNAVAILABLE: dict[type[Exception], str] = {
    DependencyUnavailable: "a dependency",
    sa_exc.TimeoutError: "the database",  # no pooled connection came free in time
    sa_exc.DisconnectionError: "the database",
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


def _invalid(detail: list[dict[str, Any]]) -> Response:
    """422 naming each field and why, without echoing the input back.

    The input may be large, or hold text (lone surrogates) that cannot even be encoded
    as UTF-8; ASCII-escaped JSON always can.
    """
    body = json.dumps({"detail": detail}, ensure_ascii=True, default=str)
    return Response(body, status_code=422, media_type="application/json")


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]


# SQLSTATE classes that mean the database, not the statement, failed: connection exception,
# transaction rollback (serialization failure, deadlock: retrying succeeds), insufficient
# resources, operator intervention (shutdown), system error.
_TRANSIENT_SQLSTATES = ("08", "40", "53", "57", "58")


def _sqlstate(exc: sa_exc.DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or "")


def _database_down(exc: sa_exc.DBAPIError) -> bool:
    """The connection was lost or refused, or the server answered that it cannot serve."""
    sqlstate = _sqlstate(exc)
    if exc.connection_invalidated or sqlstate[:2] in _TRANSIENT_SQLSTATES:
        return True
    # A driver-level failure with no SQLSTATE: the server never answered the statement.
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) and not sqlstate


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, sa_exc.DBAPIError)
    if _database_down(exc):
        return await _unavailable("the database")(request, exc)
    sqlstate = _sqlstate(exc)
    if sqlstate.startswith("22"):  # data exception: a value of the request it cannot hold
        # The request schema should have refused it: a gap there, logged to be closed.
        log.error("the database refused a value the schema let through: SQLSTATE %s", sqlstate)
        msg = f"a value of the request cannot be stored (SQLSTATE {sqlstate})"
        return _invalid([{"loc": ["body"], "msg": msg, "type": "value_error"}])
    if sqlstate == "23505":  # unique violation: a concurrent request stored the same key
        log.warning("unique violation: %s", exc.orig)
        return JSONResponse(
            {"detail": "the request conflicts with a stored job"},
            status_code=status.HTTP_409_CONFLICT,
        )
    log.error("database error", exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Map dependency failures to 503, refused statements by cause, anything else to a JSON 500."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return _invalid(_validation_detail(exc))

    for exc_type, what in _UNAVAILABLE.items():
        app.add_exception_handler(exc_type, _unavailable(what))
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"detail": "internal error"}, status_code=500)
