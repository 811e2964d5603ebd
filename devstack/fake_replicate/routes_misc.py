"""Models, versions, the webhook secret (and its rotation), health, and the `/_fake` routes."""

from __future__ import annotations

import base64
import secrets

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from devstack.fake_replicate.guards import api_guard
from devstack.fake_replicate.problems import JSONBody, ProblemError, not_found
from devstack.fake_replicate.registry import model_json, version_json
from devstack.fake_replicate.resolve import find_model
from devstack.fake_replicate.runtime import RuntimeDep

api = APIRouter(prefix="/v1")
support = APIRouter()


@api.get("/account", dependencies=[Depends(api_guard("model"))])
async def account() -> Response:
    """Replicate's `GET /v1/account`: what a stolen token would read first."""
    return JSONBody({"type": "organization", "username": "fake", "name": "Fake Replicate"})


@api.get("/models/{owner}/{name}", dependencies=[Depends(api_guard("model"))])
async def get_model(runtime: RuntimeDep, owner: str, name: str) -> Response:
    model = find_model(runtime, owner, name)
    return JSONBody(model_json(model, runtime.counters.runs_by_model[model.ref]))


@api.get("/models/{owner}/{name}/versions", dependencies=[Depends(api_guard("model"))])
async def list_versions(runtime: RuntimeDep, owner: str, name: str) -> Response:
    model = find_model(runtime, owner, name)
    return JSONBody({"previous": None, "next": None, "results": [version_json(model)]})


@api.get("/models/{owner}/{name}/versions/{version_id}", dependencies=[Depends(api_guard("model"))])
async def get_version(runtime: RuntimeDep, owner: str, name: str, version_id: str) -> Response:
    model = find_model(runtime, owner, name)
    if version_id != model.version_id:
        raise not_found("version")
    return JSONBody(version_json(model))


@api.get("/webhooks/default/secret", dependencies=[Depends(api_guard("secret"))])
async def webhook_secret(runtime: RuntimeDep) -> Response:
    return JSONBody({"key": runtime.settings.webhook_secret})


@support.post("/_fake/webhook-secret")
async def rotate_webhook_secret(runtime: RuntimeDep, request: Request) -> Response:
    """Rotate the webhook signing secret: to the body's `key`, else to a fresh random one.

    Webhooks are signed with the new secret from now on, as Replicate's are once its secret
    is rotated; `GET /v1/webhooks/default/secret` answers it.
    """
    body = await request.json() if await request.body() else {}
    key = body.get("key") if isinstance(body, dict) else ""
    if key is None:
        key = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    if not isinstance(key, str) or not key.startswith("whsec_"):
        raise ProblemError(400, "Bad request", "key must look like whsec_<base64>")
    runtime.settings.webhook_secret = key
    return JSONBody({"key": key})


@support.get("/health")
async def health(runtime: RuntimeDep) -> Response:
    return JSONBody({"status": "ok", "predictions": len(runtime.store)})


@support.get("/_fake/state")
async def fake_state(runtime: RuntimeDep, by: str | None = None) -> Response:
    """Counters since start or reset, plus predictions held by current status.

    `creates.total` counts the predictions created (lost answers included); `running` counts
    those not yet terminal now. `?by=webhook` adds `by_webhook`: per webhook URL, predictions
    `created` and still `running`.
    """
    if by not in (None, "webhook"):
        raise ProblemError(400, "Bad request", "by must be webhook")
    state = {
        **runtime.counters.to_json(),
        "predictions": {"total": len(runtime.store), **runtime.store.status_counts()},
        "running": runtime.store.running(),
    }
    if by == "webhook":
        state["by_webhook"] = runtime.store.by_webhook()
    return JSONBody(state)


@support.get("/_fake/predictions/{prediction_id}")
async def fake_prediction(runtime: RuntimeDep, prediction_id: str) -> Response:
    """The prediction without token, faults or counting, plus what the fake drew for it."""
    prediction = runtime.store.get(prediction_id)
    if prediction is None:
        raise not_found("prediction")
    drawn = {
        "latency": prediction.latency,
        "outcome": prediction.outcome,
        "seed": prediction.seed,
        "cancel_after": None
        if prediction.deadline_mono is None
        else prediction.deadline_mono - prediction.created_mono,
    }
    return JSONBody({**runtime.render(prediction), "fake": drawn})


@support.post("/_fake/reset")
async def fake_reset(runtime: RuntimeDep) -> Response:
    runtime.reset()
    return JSONBody({"status": "reset"})
