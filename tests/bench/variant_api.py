"""EXPERIMENTAL, for the lever experiments only: the API answering through ORJSONResponse.

FastAPI 0.165 already serializes a declared response model with pydantic's Rust
serializer; this app makes every route answer through `ORJSONResponse` instead, to measure
what orjson would add. Run as `uvicorn tests.bench.variant_api:app`.
"""

from __future__ import annotations

import functools
import warnings

from fastapi import FastAPI

import api.main as committed

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.responses import ORJSONResponse

committed.FastAPI = functools.partial(FastAPI, default_response_class=ORJSONResponse)  # type: ignore[attr-defined,assignment]
app = committed.create_app()
