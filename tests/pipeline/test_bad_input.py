"""Input the database cannot hold is a 422 naming the field, never a 503 "try again"."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from core.models import Job

GENERATE = "/api/v1/generate"


async def count_jobs(api) -> int:
    return int((await api.get("/api/v1/jobs", params={"limit": 1})).json()["total"])


@pytest.mark.parametrize(
    "parameters",
    [
        '{"foo": NaN}',
        '{"foo": Infinity}',
        '{"foo": -Infinity}',
        '{"foo": 1e400}',
        '{"a": [1, {"b": [NaN]}]}',
        '{"guidance_scale": 1, "nested": {"x": {"y": Infinity}}}',
        json.dumps('{"foo": NaN}'),  # parameters as a JSON string that holds an object
    ],
)
async def test_non_finite_numbers_are_422_naming_parameters(api, parameters):
    before = await count_jobs(api)
    body = '{"prompt": "x", "parameters": ' + parameters + "}"

    response = await api.post(GENERATE, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 422, response.text
    assert "retry-after" not in response.headers
    assert any("parameters" in error["loc"] for error in response.json()["detail"])
    assert await count_jobs(api) == before


def _model_name(length: int) -> str:
    """A valid `owner/name[:version]` of exactly `length` characters (3 to 330)."""
    owner = "o" * min(100, length - 2)
    name = "n" * min(100, length - len(owner) - 1)
    rest = length - len(owner) - 1 - len(name)
    return f"{owner}/{name}" + (f":{'v' * (rest - 1)}" if rest else "")


def _webhook_url(length: int) -> str:
    # An allowed local host (WEBHOOK_ALLOWED_HOSTS of the test stack) where nothing listens:
    # the job's end-of-job call goes nowhere.
    prefix = "http://127.0.0.1:9/"
    return prefix + "a" * (length - len(prefix))


def _idempotency_key(length: int) -> str:
    return uuid.uuid4().hex + "k" * (length - 32)


# The request field that feeds each length-limited column: (where it goes, value of a length).
FED_BY_REQUEST: dict[str, tuple[str, str, Callable[[int], str]]] = {
    "model_name": ("body", "model_name", _model_name),
    "webhook_url": ("body", "webhook_url", _webhook_url),
    "idempotency_key": ("header", "Idempotency-Key", _idempotency_key),
}
# Columns the service fills itself, never from a request (`owner` comes from the API key).
SET_BY_SERVICE = {"status", "request_hash", "result_url", "external_job_id", "owner", "kind"}
# Every column with a length limit (SQLModel's AutoString and SQLAlchemy's String carry one).
LIMITED: dict[str, int] = {
    column.name: length
    for column in sa.inspect(Job).columns
    if (length := getattr(column.type, "length", None)) is not None
}


def test_every_length_limited_column_is_fed_by_a_checked_field_or_by_the_service():
    assert set(LIMITED) == set(FED_BY_REQUEST) | SET_BY_SERVICE


def _request(column: str, length: int) -> dict[str, Any]:
    where, field, value = FED_BY_REQUEST[column]
    if where == "body":
        return {"json": {"prompt": "a measured fox", field: value(length)}}
    return {"json": {"prompt": "a measured fox"}, "headers": {field: value(length)}}


@pytest.mark.parametrize("column", sorted(FED_BY_REQUEST))
async def test_a_value_at_the_column_limit_is_accepted(api, column):
    response = await api.post(GENERATE, **_request(column, LIMITED[column]))

    assert response.status_code == 202, response.text


@pytest.mark.parametrize("column", sorted(FED_BY_REQUEST))
async def test_a_value_over_the_column_limit_is_422_naming_the_field(api, column):
    before = await count_jobs(api)

    response = await api.post(GENERATE, **_request(column, LIMITED[column] + 1))

    assert response.status_code == 422, response.text
    field = FED_BY_REQUEST[column][1].lower()
    assert any(field in [str(part).lower() for part in e["loc"]] for e in response.json()["detail"])
    assert await count_jobs(api) == before


async def test_an_empty_idempotency_key_is_refused_naming_it(api):
    # Else every client sending an empty key would share one job.
    before = await count_jobs(api)
    response = await api.post(
        "/api/v1/generate", json={"prompt": "a keyed fox"}, headers={"Idempotency-Key": ""}
    )
    assert response.status_code == 422, response.text
    assert ["header", "idempotency-key"] in [error["loc"] for error in response.json()["detail"]]
    assert await count_jobs(api) == before
