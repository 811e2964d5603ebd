"""JSON responses and RFC 7807 problem details, shaped like Replicate's error bodies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_TYPE = "urn:fake-replicate:problem:"


class JSONBody(Response):
    """A JSON response serialised with orjson (FastAPI's ORJSONResponse is deprecated)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ProblemBody(JSONBody):
    media_type = "application/problem+json"


@dataclass(frozen=True, slots=True)
class InvalidField:
    """One entry of a 422's `invalid_fields`; `type` uses JSON-schema validator names."""

    type: str
    field: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "field": self.field, "description": self.description}


class ProblemError(Exception):
    """Raised anywhere in a handler to answer with a problem+json body."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        slug: str | None = None,
        invalid_fields: list[InvalidField] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug or title.lower().replace(" ", "-")
        self.invalid_fields = invalid_fields
        self.headers = dict(headers or {})

    def response(self) -> Response:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + self.slug,
            "title": self.title,
            "detail": self.detail,
            "status": self.status,
        }
        if self.invalid_fields is not None:
            body["invalid_fields"] = [f.to_json() for f in self.invalid_fields]
        return ProblemBody(body, status_code=self.status, headers=self.headers)


def not_found(what: str = "resource") -> ProblemError:
    return ProblemError(404, "Not found", f"The requested {what} could not be found.")


def invalid_input(fields: list[InvalidField]) -> ProblemError:
    detail = "\n".join(f"- {f.field}: {f.description}" for f in fields)
    return ProblemError(
        422, "Input validation failed", detail, slug="validation", invalid_fields=fields
    )


async def on_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return exc.response()


async def on_http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405s, reshaped as problems."""
    assert isinstance(exc, StarletteHTTPException)
    title = "Not found" if exc.status_code == 404 else "Request error"
    return ProblemError(exc.status_code, title, str(exc.detail), headers=exc.headers).response()


async def on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = [
        InvalidField(
            str(e.get("type", "invalid")),
            ".".join(map(str, e.get("loc", ()))),
            str(e.get("msg", "")),
        )
        for e in exc.errors()
    ]
    return invalid_input(fields).response()
