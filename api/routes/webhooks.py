"""The provider's webhooks: verified, then relayed to the job's workflow as a signal.

This is how a workflow learns that its prediction finished without polling: the workflow
sleeps on a timer, and the signal wakes it. Each signal is an event of the workflow's history
and a workflow task, so only news is relayed:
- an event of a `processing` prediction (Replicate's `logs` events, many before its logs show
  any progress) is no signal: its progress goes straight to the job's row (one UPDATE, never
  lowering it; `core.job_news.record_progress`);
- a `start` (how a job hears of a prediction it did not know it had) is no signal when the
  row names that prediction already, or while the job is still creating its own: the row
  keeps it, and the workflow reads it with its status mirrors (`core.job_news.hear_start`).

The signature is Replicate's (Standard Webhooks: HMAC-SHA256 over `{id}.{timestamp}.{body}`
with the base64 key after `whsec_`).

A delivery is relayed once: its `webhook-id` (stable across the provider's retries), or for
a prediction's end the prediction's id, is recorded before the signal, a repeat is
acknowledged without one, and a signal that fails forgets the record again so the provider's
retry is relayed. A signature that fails makes the API fetch the provider's secret again (at
most once a minute), so a rotated secret heals.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, status
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col
from temporalio.service import RPCError, RPCStatusCode

from api.deps import JobIdDep, Services, ServicesDep, TemporalDep
from core.job_news import hear_start, record_progress
from core.jobs import PREDICTION_SIGNAL, Prediction, PredictionStatus
from core.models import ProviderWebhookDelivery, utcnow
from core.predictions import parse_prediction
from core.replicate import ProviderError

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
log = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300
# A signature that fails fetches the provider's secret again, at most this often per process.
SECRET_REFETCH_SECONDS = 60.0
# Delivery ids are kept this long (the provider retries for minutes, not days), and pruned at
# most this often per process.
DELIVERY_TTL = timedelta(days=1)
PRUNE_EVERY_SECONDS = 3600.0
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def verify_signature(
    secret: str, *, msg_id: str, timestamp: str, body: bytes, signatures: str
) -> bool:
    """Whether one of the `v1,<base64>` signatures matches."""
    if not _TIMESTAMP.fullmatch(timestamp) or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    return any(
        hmac.compare_digest(expected, candidate.partition(",")[2].encode())
        for candidate in signatures.split()
    )


@dataclass
class ProviderSecret:
    """The provider's signing secret as this process knows it, and when it last refetched it."""

    value: str | None = None
    refetched_at: float = float("-inf")
    pruned_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def verifies(self, services: Services, **signed: Any) -> bool:
        """Whether the signature verifies, with the secret known or, failing, a fresh one.

        Raises:
            ProviderError: the provider could not be asked for its secret (a 503).
        """
        if self.value is None:
            async with self.lock:
                if self.value is None:
                    self.value = await services.provider.webhook_secret()
        tried = self.value
        if verify_signature(tried, **signed):
            return True
        async with self.lock:
            if self.value == tried:  # nobody refetched it while this request waited
                if time.monotonic() - self.refetched_at < SECRET_REFETCH_SECONDS:
                    return False
                self.refetched_at = time.monotonic()
                self.value = await services.provider.webhook_secret()
                if self.value != tried:
                    log.info("the provider's webhook secret has changed")
            return self.value != tried and verify_signature(self.value, **signed)


def provider_secret(request: Request) -> ProviderSecret:
    """This app's `ProviderSecret`, made on first use."""
    state = request.app.state
    if getattr(state, "provider_secret", None) is None:
        state.provider_secret = ProviderSecret()
    secret: ProviderSecret = state.provider_secret
    return secret


async def _first_delivery(services: Services, cache: ProviderSecret, webhook_id: str) -> bool:
    """Record the delivery; False if it was recorded before (a repeat). Prunes old ids."""
    now = utcnow()
    model = ProviderWebhookDelivery
    async with services.sessions() as session, session.begin():
        inserted = await session.execute(
            insert(model)
            .values(webhook_id=webhook_id, received_at=now)
            .on_conflict_do_nothing(index_elements=[col(model.webhook_id)])
            .returning(col(model.webhook_id))
        )
        first = inserted.first() is not None
        if time.monotonic() - cache.pruned_at >= PRUNE_EVERY_SECONDS:
            cache.pruned_at = time.monotonic()
            await session.execute(delete(model).where(col(model.received_at) < now - DELIVERY_TTL))
    return first


async def _forget_delivery(services: Services, webhook_id: str) -> None:
    """Drop the record of a delivery not relayed, so that the provider's retry is."""
    model = ProviderWebhookDelivery
    try:
        async with services.sessions() as session, session.begin():
            await session.execute(delete(model).where(col(model.webhook_id) == webhook_id))
    except Exception as exc:  # the original failure is what the provider must hear about
        log.warning("could not forget webhook delivery %s: %s", webhook_id, type(exc).__name__)


def _prediction(body: bytes) -> Prediction:
    try:
        return parse_prediction(json.loads(body))
    except (ValueError, RecursionError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else "the JSON is nested too deeply"
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"not a prediction: {detail}"[:500]
        ) from exc


@router.post("/replicate/{job_id}", include_in_schema=False)
async def replicate_webhook(
    request: Request,
    job_id: JobIdDep,
    services: ServicesDep,
    temporal: TemporalDep,
    webhook_id: Annotated[str, Header(min_length=1, max_length=255)],
    webhook_timestamp: Annotated[str, Header(max_length=32)],
    webhook_signature: Annotated[str, Header(max_length=4096)],
    attempt: int | None = None,
) -> dict[str, str]:
    """Relay a verified provider webhook to the job's workflow (`attempt`: which create)."""
    body = await request.body()
    cache = provider_secret(request)
    if not await cache.verifies(
        services,
        msg_id=webhook_id,
        timestamp=webhook_timestamp,
        body=body,
        signatures=webhook_signature,
    ):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid webhook signature")
    prediction = _prediction(body)
    if prediction.status == PredictionStatus.PROCESSING:
        # A running prediction's `logs` event: its progress, if its logs show any yet, goes
        # to the row (repeats need no record: the write never lowers it); the workflow has no
        # use for it.
        if prediction.progress is not None:
            await record_progress(services.sessions, job_id, prediction.id, prediction.progress)
        return {"status": "accepted"}
    if prediction.status == PredictionStatus.STARTING and not await _start_news(
        services, job_id, prediction.id
    ):
        return {"status": "accepted"}
    # An end is news once, whichever event carries it: each event shows the prediction as it
    # is when sent, so a fast one's `start`, `logs` and `completed` may all show it ended.
    # So an end is relayed once per prediction, anything else once per delivery (its id is
    # stable across the provider's retries).
    delivery = f"end:{prediction.id}" if prediction.status.terminal else webhook_id
    if not await _first_delivery(services, cache, delivery):
        log.info("webhook %s was relayed before: acknowledged only", delivery)
        return {"status": "accepted"}
    try:
        await temporal.get_workflow_handle(str(job_id)).signal(PREDICTION_SIGNAL, prediction)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            await _forget_delivery(services, delivery)
            raise
        # The job has ended (or never was): acknowledge, so the provider stops retrying, and
        # stop a prediction still running for it (a create whose answer was lost): nothing
        # we start may outlive its job.
        log.info("webhook for a job that is not running (attempt %s)", attempt)
        if not prediction.status.terminal:
            await _cancel_orphan(services, prediction.id)
    except BaseException:
        await _forget_delivery(services, delivery)
        raise
    return {"status": "accepted"}


async def _start_news(services: Services, job_id: uuid.UUID, prediction_id: str) -> bool:
    """Whether a `start` is news to the job's workflow, to be relayed as a signal.

    Not when the job names this prediction already (it is the job's own), nor when the row
    kept it for the workflow to read (`hear_start`: the job is still creating its own, and
    most such starts are of that very prediction). A row that cannot be asked: relayed.
    """
    try:
        heard = await hear_start(services.sessions, job_id, prediction_id)
    except SQLAlchemyError as exc:
        log.warning("start of %s not kept (%s): relayed", prediction_id, type(exc).__name__)
        return True
    return not heard.kept and heard.current != prediction_id


async def _cancel_orphan(services: Services, prediction_id: str) -> None:
    try:
        await services.provider.cancel_prediction(prediction_id)
    except ProviderError as exc:  # the provider's own Cancel-After still bounds it
        log.warning("could not cancel orphan prediction %s: %s", prediction_id, exc)
    else:
        log.info("orphan prediction %s canceled", prediction_id)
