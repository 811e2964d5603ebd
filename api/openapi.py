"""OpenAPI documentation helpers: the error answers of a route, and examples of its answer."""

from __future__ import annotations

from typing import Any

_DESCRIPTIONS = {
    401: "No API key, or one that is unknown or revoked (`WWW-Authenticate: Bearer`)",
    403: "Forbidden: a media URL unsigned, expired or altered, or a route for admin keys",
    404: "No job (or object) has that id",
    409: "Conflict: the job's state, or an Idempotency-Key used with another body",
    413: "The request body is too large",
    415: "The upload is not an image of a supported format",
    422: "Invalid input: `detail` says which field and why",
    429: "Over the owner's quota: `Retry-After` and `RateLimit-*` say when to try again",
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


def example(
    body: Any, *, media_type: str = "application/json", code: int = 200
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry showing an example answer (merged into a route's `responses`)."""
    return {code: {"content": {media_type: {"example": body}}}}
