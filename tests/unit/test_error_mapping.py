"""api/errors.py: a database that cannot be reached is a 503; a value it refuses is no outage."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc

from api.errors import install_error_handlers


class DriverError(Exception):
    """What the asyncpg adapter hands SQLAlchemy: the server's SQLSTATE, if it answered."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def dbapi(sqlstate: str | None, kind: type[exc.DBAPIError] = exc.DBAPIError, **kw):
    return kind("INSERT INTO jobs ...", {}, DriverError(sqlstate), **kw)


async def answer(error: Exception) -> httpx.Response:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/")
    async def fail() -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/")


@pytest.mark.parametrize(
    "error",
    [
        dbapi(None, exc.InterfaceError, connection_invalidated=True),  # the connection dropped
        dbapi("57P01", exc.OperationalError),  # the server is shutting down
        dbapi("08006"),  # connection failure
        dbapi("53300"),  # too many connections
        dbapi("40001"),  # serialization failure: transient by definition
        exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"),
    ],
)
async def test_an_unreachable_or_busy_database_is_503_try_again(error):
    response = await answer(error)

    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert "the database is unavailable" in response.json()["detail"]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (dbapi("22001"), 422),  # value too long for the column
        (dbapi("22P02"), 422),  # invalid input syntax (NaN in JSON)
        (dbapi("23505"), 409),  # unique violation
        (dbapi("42P01"), 500),  # undefined table: our bug
        (exc.InvalidRequestError("a session misused"), 500),
    ],
)
async def test_a_refused_statement_is_not_an_outage(error, code):
    response = await answer(error)

    assert response.status_code == code
    assert "retry-after" not in response.headers
    assert "try again" not in response.text
    assert response.json()["detail"]


async def test_a_refused_value_is_422_in_the_validation_format():
    response = await answer(dbapi("22001"))

    [error] = response.json()["detail"]
    assert set(error) == {"loc", "msg", "type"}
    assert error["loc"] == ["body"]
