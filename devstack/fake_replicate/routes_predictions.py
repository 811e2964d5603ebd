"""`/v1` prediction routes: create (by model, deployment or version), get, list, cancel."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from devstack.fake_replicate.connection import drop_connection
from devstack.fake_replicate.create import (
    build_prediction,
    cancel_after,
    prefer_wait,
    wait_until_done,
)
from devstack.fake_replicate.faults import request_key
from devstack.fake_replicate.guards import api_guard
from devstack.fake_replicate.listing import created_filter, page_url
from devstack.fake_replicate.options import Step, parse_options
from devstack.fake_replicate.prediction import Prediction
from devstack.fake_replicate.problems import (
    InvalidField,
    JSONBody,
    ProblemError,
    invalid_input,
    not_found,
)
from devstack.fake_replicate.registry import ModelInfo
from devstack.fake_replicate.resolve import find_model, model_of_version, read_body
from devstack.fake_replicate.runtime import Runtime, RuntimeDep
from devstack.fake_replicate.state import parse_cursor
from devstack.fake_replicate.validation import validate_input, validate_webhook

router = APIRouter(prefix="/v1")


async def _create(
    request: Request, runtime: RuntimeDep, route: str, model: ModelInfo, body: dict[str, Any]
) -> Response:
    data = body.get("input")
    if not isinstance(data, dict):
        raise invalid_input([InvalidField("required", "input", "input must be an object")])
    options, errors = parse_options(data.get("fake"))
    if errors:
        raise invalid_input(errors)
    deadline = cancel_after(
        request.headers.get("cancel-after"), runtime.settings.cancel_after_min_seconds
    )

    def key() -> str:
        """Same route, model and input: a retry of the same create."""
        return request_key(route, model.version_id, orjson.dumps(data, option=orjson.OPT_SORT_KEYS))

    lose = await runtime.faults.keyed("create", options, key)
    errors = validate_input(data) + validate_webhook(body)
    if errors:
        raise invalid_input(errors)
    prediction = build_prediction(runtime, model, body, options, model.ref, deadline)
    runtime.store.add(prediction)
    runtime.counters.creates[route] += 1
    runtime.counters.runs_by_model[model.ref] += 1
    runtime.webhooks.track(prediction)
    wait = prefer_wait(request.headers.get("prefer"))
    if wait is not None:
        runtime.counters.waits += 1
        await wait_until_done(prediction, wait)
    if runtime.faults.lose_answer(lose):
        return await drop_connection(request)
    return JSONBody(runtime.render(prediction), status_code=201)


async def _counted_create(
    request: Request,
    runtime: RuntimeDep,
    route: str,
    model_of: Callable[[dict[str, Any]], ModelInfo],
) -> Response:
    """Run a create, counting refusals by status (faults included) for `/_fake/state`."""
    try:
        body = await read_body(request)
        return await _create(request, runtime, route, model_of(body), body)
    except ProblemError as exc:
        runtime.counters.rejected[str(exc.status)] += 1
        raise


@router.post("/models/{owner}/{name}/predictions", dependencies=[Depends(api_guard("create"))])
async def create_for_model(
    request: Request, runtime: RuntimeDep, owner: str, name: str
) -> Response:
    return await _counted_create(
        request, runtime, "models", lambda _: find_model(runtime, owner, name)
    )


@router.post("/deployments/{owner}/{name}/predictions", dependencies=[Depends(api_guard("create"))])
async def create_for_deployment(
    request: Request, runtime: RuntimeDep, owner: str, name: str
) -> Response:
    return await _counted_create(
        request, runtime, "deployments", lambda _: find_model(runtime, owner, name, "deployment")
    )


@router.post("/predictions", dependencies=[Depends(api_guard("create"))])
async def create_for_version(request: Request, runtime: RuntimeDep) -> Response:
    return await _counted_create(
        request, runtime, "predictions", lambda body: model_of_version(runtime, body)
    )


@router.get("/predictions", dependencies=[Depends(api_guard("list"))])
async def list_predictions(
    runtime: RuntimeDep,
    cursor: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
) -> Response:
    runtime.counters.lists += 1
    keep = created_filter(created_after, created_before)
    position = parse_cursor(cursor) if cursor else None
    if cursor and position is None:
        raise ProblemError(400, "Bad request", "Invalid cursor")
    page = runtime.store.page(position, runtime.settings.page_size, keep)
    now = time.monotonic()
    filters = {"created_after": created_after, "created_before": created_before}
    return JSONBody(
        {
            "previous": page_url(runtime.base_url, filters, page.previous),
            "next": page_url(runtime.base_url, filters, page.next),
            "results": [runtime.render(p, now, listed=True) for p in page.results],
        }
    )


async def _find(runtime: Runtime, prediction_id: str, step: Step) -> Prediction:
    prediction = runtime.store.get(prediction_id)
    if prediction is None:
        raise not_found("prediction")
    await runtime.faults.keyed(step, prediction.options, prediction_id)
    return prediction


@router.get("/predictions/{prediction_id}", dependencies=[Depends(api_guard("get"))])
async def get_prediction(runtime: RuntimeDep, prediction_id: str) -> Response:
    runtime.counters.gets += 1
    prediction = await _find(runtime, prediction_id, "get")
    return JSONBody(runtime.render(prediction))


@router.post("/predictions/{prediction_id}/cancel", dependencies=[Depends(api_guard("cancel"))])
async def cancel_prediction(runtime: RuntimeDep, prediction_id: str) -> Response:
    runtime.counters.cancels += 1
    prediction = await _find(runtime, prediction_id, "cancel")
    now = time.monotonic()
    if not prediction.is_terminal(now):
        prediction.canceled_mono = now
        runtime.webhooks.finished(prediction)
        if prediction.waiter is not None:
            prediction.waiter.set()
    return JSONBody(runtime.render(prediction, now))
