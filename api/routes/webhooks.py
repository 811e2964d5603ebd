"""The provider's webhooks: verified, then relayed to the job's workflow as a signal.

This is how a workflow learns that its prediction finished without polling: the workflow
sleeps on a timer, and the signal wakes it. The signature is Replicate's (Standard
Webhooks: HMAC-SHA256 over `{id}.{timestamp}.{body}` with the base64 key after `whsec_`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

from fastapi import APIRouter, Header, HTTPException, Request, status
from temporalio.service import RPCError, RPCStatusCode

from api.deps import JobIdDep, Services, ServicesDep, TemporalDep
from core.jobs import PREDICTION_SIGNAL
from core.predictions import parse_prediction
from core.replicate import ProviderError

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
log = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300


def verify_signature(
    secret: str, *, msg_id: str, timestamp: str, body: bytes, signatures: str
) -> bool:
    """Whether one of the `v1,<base64>` signatures matches."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, candidate.partition(",")[2])
        for candidate in signatures.split()
    )


@router.post("/replicate/{job_id}", include_in_schema=False)
async def replicate_webhook(
    request: Request,
    job_id: JobIdDep,
    services: ServicesDep,
    temporal: TemporalDep,
    webhook_id: str = Header(),
    webhook_timestamp: str = Header(),
    webhook_signature: str = Header(),
    attempt: int | None = None,
) -> dict[str, str]:
    """Relay a verified provider webhook to the job's workflow (`attempt`: which create)."""
    body = await request.body()
    if services.webhook_secret is None:
        services.webhook_secret = await services.provider.webhook_secret()
    if not verify_signature(
        services.webhook_secret,
        msg_id=webhook_id,
        timestamp=webhook_timestamp,
        body=body,
        signatures=webhook_signature,
    ):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid webhook signature")
    try:
        prediction = parse_prediction(json.loads(body))
    except ValueError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, f"not a prediction: {exc}"
        ) from exc
    try:
        await temporal.get_workflow_handle(str(job_id)).signal(PREDICTION_SIGNAL, prediction)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        # The job has ended (or never was): acknowledge, so the provider stops retrying, and
        # stop a prediction still running for it (a create whose answer was lost): nothing
        # we start may outlive its job.
        log.info("webhook for a job that is not running (attempt %s)", attempt)
        if not prediction.status.terminal:
            await _cancel_orphan(services, prediction.id)
    return {"status": "accepted"}


async def _cancel_orphan(services: Services, prediction_id: str) -> None:
    try:
        await services.provider.cancel_prediction(prediction_id)
    except ProviderError as exc:  # the provider's own Cancel-After still bounds it
        log.warning("could not cancel orphan prediction %s: %s", prediction_id, exc)
    else:
        log.info("orphan prediction %s canceled", prediction_id)
