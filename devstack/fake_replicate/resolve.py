"""Reading a request body and resolving which model a request names."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import Request

from devstack.fake_replicate.problems import InvalidField, ProblemError, invalid_input, not_found
from devstack.fake_replicate.registry import ModelInfo
from devstack.fake_replicate.runtime import Runtime

VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
MODEL_REF = re.compile(r"^(?P<owner>[^/\s]+)/(?P<name>[^/:\s]+)(?::(?P<version>\S+))?$")


def no_version() -> ProblemError:
    return ProblemError(
        422,
        "Invalid version or not permitted",
        "The specified version does not exist (or perhaps you don't have permission to use it?)",
        slug="invalid-version",
    )


async def read_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ProblemError(400, "Bad request", f"Request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProblemError(400, "Bad request", "Request body must be a JSON object")
    return body


def find_model(runtime: Runtime, owner: str, name: str, what: str = "model") -> ModelInfo:
    """The model (or deployment, which the fake treats alike) or a 404."""
    model = runtime.registry.model(owner, name)
    if model is None:
        raise not_found(what)
    return model


def model_of_version(runtime: Runtime, body: dict[str, Any]) -> ModelInfo:
    """`version` as a 64-hex id, `owner/name:id` or `owner/name`; unknown versions are a 422."""
    ref = body.get("version")
    if not isinstance(ref, str) or not ref:
        raise invalid_input([InvalidField("required", "version", "version is required")])
    if VERSION_ID.match(ref):
        model = runtime.registry.by_version(ref)
        if model is None:
            raise no_version()
        return model
    match = MODEL_REF.match(ref)
    if match is None:
        raise no_version()
    model = find_model(runtime, match["owner"], match["name"])
    if match["version"] is not None and match["version"] != model.version_id:
        raise no_version()
    return model
