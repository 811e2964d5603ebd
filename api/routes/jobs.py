"""The job endpoints of API.md: generate, status, list, metadata, cancel, download (uploads:
api/routes/uploads.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, HTTPException, Query, Response, status
from fastapi.responses import StreamingResponse

from api.allowed_models import require_allowed_model
from api.auth import Caller, CallerDep, keyed_router
from api.cancel import cancel_job
from api.deps import JobIdDep, ServicesDep, SessionDep, SettingsDep, SignerDep, StorageDep
from api.openapi import example, responses
from api.schemas import MODEL_NAME, JobCreate, JobList
from api.submit import accepted, refusals_as_http, submit_job
from core.jobs import JobKind, JobStatus
from core.keys import media_name, metadata_key
from core.models import Job
from core.repository import get_job, list_jobs
from core.schemas import JOB_EXAMPLE, JobPublic, job_document
from core.storage import ObjectNotFound

router = keyed_router(prefix="/api/v1", tags=["jobs"])
METADATA_EXAMPLE = {
    "job_id": JOB_EXAMPLE["id"],
    "prompt": JOB_EXAMPLE["prompt"],
    "model_name": JOB_EXAMPLE["model_name"],
    "parameters": JOB_EXAMPLE["parameters"],
    "external_job_id": JOB_EXAMPLE["external_job_id"],
    "outputs": JOB_EXAMPLE["outputs"],
    "timings": {
        "created_at": JOB_EXAMPLE["created_at"],
        "completed_at": JOB_EXAMPLE["completed_at"],
    },
    "metrics": {"predict_time": 1.2, "image_count": 1},
}


async def _job_or_404(session: SessionDep, job_id: JobIdDep, caller: Caller) -> Job:
    """The job, if the caller may see it: another owner's job is a 404 like a missing one."""
    job = await get_job(session, job_id, owner=caller.sees)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    return job


def _require_completed(job: Job, what: str) -> None:
    if job.status != JobStatus.COMPLETED:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"job {job.id} is {job.status}: {what} exists once it is completed",
        )


@router.post(
    "/generate",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(409, 413, 422, 429, 503),
)
async def generate(
    body: JobCreate,
    response: Response,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    signer: SignerDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> JobPublic:
    """Record a generation job, whose workflow starts at once; answers with the pending job.

    The same `Idempotency-Key` with the same body returns the same job and starts nothing new
    (keys are the owner's own). Past the owner's submit rate or active-job cap: `429`.
    """
    require_allowed_model(body.model_name, settings.allowed_models)
    with refusals_as_http():
        job, standing = await submit_job(
            session,
            body,
            caller=caller,
            settings=settings,
            idempotency_key=idempotency_key,
        )
    accepted(response, job, standing)
    return job_document(job, signer)


@router.get("/status/{job_id}", responses=responses(404, 422, 503))
async def get_status(
    session: SessionDep, caller: CallerDep, signer: SignerDep, job_id: JobIdDep
) -> JobPublic:
    """The job document: status, progress, outputs, error and timestamps."""
    return job_document(await _job_or_404(session, job_id, caller), signer)


@router.get(
    "/jobs",
    responses={
        **example({"items": [JOB_EXAMPLE], "total": 1, "limit": 20, "offset": 0}),
        **responses(422, 503),
    },
)
async def get_jobs(
    session: SessionDep,
    caller: CallerDep,
    signer: SignerDep,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    status_filter: JobStatus | None = None,
    model_name: Annotated[str | None, Query(pattern=MODEL_NAME)] = None,
    kind: JobKind | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobList:
    """The owner's jobs (an admin's: everyone's), newest first, filtered by `status` (or
    `status_filter`), `model_name` and `kind`."""
    rows, total = await list_jobs(
        session,
        owner=caller.sees,
        status=status_ or status_filter,
        model_name=model_name,
        kind=kind,
        limit=limit,
        offset=offset,
    )
    return JobList(
        items=[job_document(row, signer) for row in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/jobs/{job_id}/metadata",
    responses={**example(METADATA_EXAMPLE), **responses(404, 409, 422, 503)},
)
async def get_metadata(
    session: SessionDep,
    caller: CallerDep,
    storage: StorageDep,
    signer: SignerDep,
    job_id: JobIdDep,
) -> dict[str, Any]:
    """The generation metadata stored beside the media (`metadata/{id}.json`), its output
    URLs signed as in the job document."""
    job = await _job_or_404(session, job_id, caller)
    _require_completed(job, "metadata")
    try:
        document = await storage.get_json(metadata_key(str(job.id)))
    except ObjectNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no metadata for job {job_id}") from exc
    document["outputs"] = signer.signed_outputs(document.get("outputs", []))
    return document


@router.delete(
    "/jobs/{job_id}", status_code=status.HTTP_202_ACCEPTED, responses=responses(404, 409, 422, 503)
)
async def delete_job(
    session: SessionDep,
    caller: CallerDep,
    services: ServicesDep,
    settings: SettingsDep,
    signer: SignerDep,
    job_id: JobIdDep,
) -> JobPublic:
    """Cancel a pending or processing job: its workflow and the provider's prediction."""
    job = await _job_or_404(session, job_id, caller)
    if JobStatus(job.status).terminal:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} is already {job.status}")
    # End the read's transaction before waiting on the workflow (up to cancel_wait_seconds):
    # an idle transaction would hold a pooled connection all that time. cancel_job re-reads.
    await session.commit()
    job = await cancel_job(session, services.temporal, job, wait=settings.cancel_wait_seconds)
    if JobStatus(job.status) in {JobStatus.COMPLETED, JobStatus.FAILED}:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} ended {job.status} first")
    return job_document(job, signer)


@router.get(
    "/download/{job_id}",
    response_class=StreamingResponse,
    responses={
        **responses(404, 409, 422, 503),
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The media file, with its own Content-Type",
        },
    },
)
async def download(
    session: SessionDep,
    caller: CallerDep,
    storage: StorageDep,
    job_id: JobIdDep,
    index: Annotated[int, Query(ge=0, le=99)] = 0,
) -> StreamingResponse:
    """Stream the job's media file (`?index=N` for another output)."""
    job = await _job_or_404(session, job_id, caller)
    _require_completed(job, "media")
    if index >= len(job.outputs):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} has no output {index}")
    key = job.outputs[index]["key"]
    try:
        info = await storage.stat(key)
    except ObjectNotFound as exc:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"output {index} of job {job_id} is gone"
        ) from exc
    filename = media_name(key)
    return StreamingResponse(
        storage.iter_object(key),
        media_type=info.content_type,
        headers={
            "Content-Length": str(info.size),
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )
