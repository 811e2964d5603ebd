"""JobActivities: every side effect of a job, one activity each, each safe to run twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import classified
from activities.running import current_attempt, heartbeats
from activities.urls import Urls
from core.addresses import RefusedUrl, UnresolvedHost
from core.db import SessionFactory
from core.job_news import record_progress
from core.jobs import (
    CreatePredictionInput,
    CreatePredictionResult,
    GenerateMediaInput,
    JobUpdate,
    MetadataInput,
    MirrorResult,
    PredictionResult,
    StepResult,
    StoredOutput,
    StoreOutputInput,
)
from core.keys import media_key, metadata_key
from core.media_urls import MediaSigner
from core.outbound_http import WebhookSender
from core.output_rules import Downloads, OutputRefused
from core.replicate import (
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnreachable,
    ReplicateClient,
)
from core.repository import get_job, mirror_job_update
from core.schemas import job_document
from core.sniff import ContentRefused
from core.storage import ObjectTooLarge, Storage
from core.webhook_secrets import webhook_secret
from core.webhook_signing import signed_event

# A create's heartbeat when it failed before its request could reach the provider.
NOT_SENT = "not-sent"
# How far the provider's clock may be behind Temporal's when looking for a lost create.
PROVIDER_CLOCK_SKEW = timedelta(minutes=1)
# Jobs started before `pay-once` wait at most an hour on their prediction (as the new ones).
LEGACY_CANCEL_AFTER_SECONDS = 3600 + 300


class JobActivities:
    """The activities of the job workflow; clients are built once and passed in."""

    def __init__(
        self,
        *,
        replicate: ReplicateClient,
        storage: Storage,
        sessions: SessionFactory,
        urls: Urls,
        signer: MediaSigner,
        webhooks: WebhookSender,
        downloads: Downloads,
        prefer_wait_seconds: int = 0,
    ) -> None:
        self._replicate = replicate
        self._storage = storage
        self._sessions = sessions
        self._urls = urls
        self._signer = signer
        self._webhooks = webhooks
        self._prefer_wait = prefer_wait_seconds
        # Outputs are fetched with a plain client (never the provider's, which holds the
        # token) and only where the output rules allow (issue #16).
        self._downloads = downloads

    @activity.defn
    @classified
    async def start_prediction(self, request: CreatePredictionInput) -> CreatePredictionResult:
        """Create the job attempt's prediction, or adopt the one an earlier try created.

        The provider has no idempotency key, so a try that follows an ambiguous failure
        (the request may have arrived: a lost answer, a timeout, a dead worker) first looks
        for a prediction whose webhook names this job attempt, and creates only if none is
        found. A try that failed before anything was sent says so in its heartbeat.
        """
        job, info = request.job, activity.info()
        webhook = self._urls.provider_webhook(job.job_id, request.job_attempt)
        if info.attempt > 1 and NOT_SENT not in info.heartbeat_details:
            found = await self._replicate.find_prediction(
                webhook=webhook,
                created_after=info.scheduled_time - PROVIDER_CLOCK_SKEW,
                prompt=job.prompt,
            )
            if found is not None:
                activity.logger.info("prediction %s adopted: %s", found.id, found.status)
                return CreatePredictionResult(
                    prediction=found,
                    webhook=self._urls.provider_calls_back,
                    attempt=info.attempt,
                    adopted=True,
                )
        try:
            prediction = await self._replicate.create_prediction(
                model=job.model_name,
                input={**job.parameters, "prompt": job.prompt},
                webhook=webhook,
                wait_seconds=self._prefer_wait,
                cancel_after_seconds=request.cancel_after_seconds,
            )
        except (ProviderUnreachable, ProviderRateLimited, ProviderRejected):
            activity.heartbeat(NOT_SENT)  # the next try need not look for it
            raise
        activity.logger.info("prediction %s created: %s", prediction.id, prediction.status)
        return CreatePredictionResult(
            prediction=prediction, webhook=self._urls.provider_calls_back, attempt=info.attempt
        )

    @activity.defn
    async def create_prediction(self, job: GenerateMediaInput) -> CreatePredictionResult:
        """`start_prediction` as jobs started before the patch `pay-once` schedule it."""
        request = CreatePredictionInput(
            job=job, job_attempt=1, cancel_after_seconds=LEGACY_CANCEL_AFTER_SECONDS
        )
        return await self.start_prediction(request)

    @activity.defn
    @classified
    async def get_prediction(self, prediction_id: str) -> PredictionResult:
        """One poll of the prediction's state; a poll that finds it unfinished is no failure."""
        prediction = await self._replicate.get_prediction(prediction_id)
        if prediction.progress is not None and not prediction.status.terminal:
            job_id = uuid.UUID(activity.info().workflow_id)  # a job's workflow id is its id
            await record_progress(self._sessions, job_id, prediction_id, prediction.progress)
        return PredictionResult(prediction=prediction, attempt=current_attempt())

    @activity.defn
    @classified
    async def cancel_prediction(self, prediction_id: str) -> StepResult:
        """Cancel the prediction at the provider (harmless when it has already ended)."""
        prediction = await self._replicate.cancel_prediction(prediction_id)
        activity.logger.info("prediction %s canceled: %s", prediction_id, prediction.status)
        return StepResult(attempt=current_attempt())

    @activity.defn
    @classified
    async def store_output(self, request: StoreOutputInput) -> StoredOutput:
        """Stream one output from the provider into the bucket, heartbeating as it goes."""
        heartbeat = asyncio.create_task(heartbeats())
        try:
            async with self._downloads.open(self._replicate, request.url) as output:
                key = media_key(request.job_id, request.index, output.ext)
                stored = await self._storage.put_stream(
                    key,
                    output.body,
                    length=output.length,
                    content_type=output.content_type,
                    max_bytes=request.max_bytes,
                )
        except (OutputRefused, ContentRefused) as exc:  # final; names the host, not the URL
            raise ApplicationError(
                f"output {request.index} {exc}",
                current_attempt(),
                type="OutputRefused",
                non_retryable=True,
            ) from None
        except ObjectTooLarge as exc:
            raise ApplicationError(
                f"output {request.index} is too large: {exc} (MAX_OUTPUT_BYTES)",
                current_attempt(),
                type="OutputTooLarge",
                non_retryable=True,
            ) from None
        finally:
            heartbeat.cancel()
        activity.logger.info("stored %s (%d bytes)", key, stored.size)
        return StoredOutput(
            key=key,
            url=self._urls.media(key),
            content_type=stored.content_type,
            file_size=stored.size,
            sha256=stored.sha256,
            attempt=current_attempt(),
        )

    @activity.defn
    @classified
    async def delete_outputs(self, keys: list[str]) -> StepResult:
        """Remove a failed job's stored outputs, so that nothing of it is left half stored."""
        await self._storage.delete(keys)
        return StepResult(attempt=current_attempt())

    @activity.defn
    @classified
    async def write_metadata(self, request: MetadataInput) -> StepResult:
        """Write `metadata/{job_id}.json` beside the media (with their variants, once made)."""
        job, prediction = request.job, request.prediction
        document = {
            "job_id": job.job_id,
            "prompt": job.prompt,
            "model_name": job.model_name,
            "parameters": job.parameters,
            "external_job_id": prediction.id,
            "outputs": [output.model_dump(exclude={"attempt"}) for output in request.outputs],
            "timings": {
                "created_at": job.created_at,
                "prediction_created_at": prediction.created_at,
                "prediction_started_at": prediction.started_at,
                "prediction_completed_at": prediction.completed_at,
                "completed_at": request.completed_at,
            },
            "metrics": prediction.metrics,
            "orphaned_predictions": request.orphans,
        }
        if request.variants is not None:
            document["variants"] = [v.model_dump(exclude={"attempt"}) for v in request.variants]
        if request.variant_failures is not None:
            document["variant_failures"] = [f.model_dump() for f in request.variant_failures]
        await self._storage.put_json(metadata_key(job.job_id), document)
        return StepResult(attempt=current_attempt())

    @activity.defn
    @classified
    async def mirror_status(self, update: JobUpdate) -> MirrorResult:
        """Write a status change into PostgreSQL (an upsert keyed by job id).

        The row's retry count includes this mirror's own failed attempts (a database
        outage), as the workflow counts them once this activity returns: otherwise the
        final row would show fewer retries than the workflow's result. Returns the starts
        the row kept of predictions other than the one it names.
        """
        update = update.model_copy(
            update={"retry_count": update.retry_count + current_attempt() - 1}
        )
        async with self._sessions() as session:
            mirrored = await mirror_job_update(
                session, update, result_url=self._urls.download(update.job.job_id)
            )
        if not mirrored.written:
            activity.logger.info("job already terminal; %s not written", update.status)
        return MirrorResult(attempt=current_attempt(), starts_heard=mirrored.starts_heard)

    @activity.defn
    @classified
    async def notify_webhook(self, job: GenerateMediaInput) -> StepResult:
        """POST the final job document to the user's `webhook_url`, signed with the owner's
        secret (Standard Webhooks); the `webhook-id` is the same on every try of one job's
        end. A URL refused now (its name may resolve elsewhere than at submit) is final.
        """
        assert job.webhook_url is not None
        async with self._sessions() as session:
            row = await get_job(session, uuid.UUID(job.job_id), owner=None)
            if row is None:
                raise LookupError(f"job {job.job_id} has no row")
            secret = await webhook_secret(session, row.owner or "")
        document = job_document(row, self._signer).model_dump(mode="json")
        msg_id, event = f"{job.job_id}:{row.status}", f"job.{row.status}"
        body, headers = signed_event(secret, msg_id, event, document)
        try:
            delivery = await self._webhooks.post(job.webhook_url, body, headers)
        except UnresolvedHost:
            raise  # retried with the rest: a resolver may fail for a while
        except RefusedUrl as exc:
            raise ApplicationError(
                f"webhook_url refused: {exc.reason}",
                current_attempt(),
                type="WebhookRefused",
                non_retryable=True,
            ) from None
        activity.logger.info("webhook answered %d", delivery.status)
        return StepResult(attempt=current_attempt())
