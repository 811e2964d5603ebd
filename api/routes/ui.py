"""The web page at `/ui`: submit a job, watch it, browse the owner's jobs, upload an image.

A browser cannot send `Authorization: Bearer` when it navigates, so the pages are split in
two. The page shells (`/ui`, `/ui/upload`, `/ui/jobs/{id}`) need no key and hold nothing of
anyone's: forms and empty regions. `static/ui/ui.js` keeps the key in `localStorage`, sends it
with every request it makes, and fills the regions with HTML fragments rendered here by the
same templates (`/ui/fragments/…`, keyed routes like `/api/v1`'s: `401` without a key,
another owner's job `404`); it submits through the JSON API itself and reads the events
stream with `fetch`. All of it is left out of the OpenAPI document: it is not the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse

from api.auth import CallerDep, keyed_router
from api.deps import JobIdDep, SessionDep, SettingsDep, SignerDep, StorageDep
from api.schemas import OUTPUT_FORMATS, JobCreate
from api.ui_pages import GALLERY_PAGE_SIZE, content_security_policy, render, workflow_url
from core.config import Settings
from core.jobs import JobStatus
from core.keys import metadata_key
from core.repository import get_job, list_jobs
from core.schemas import job_document
from core.storage import ObjectNotFound

router = APIRouter(prefix="/ui", include_in_schema=False)
fragments = keyed_router(prefix="/fragments", include_in_schema=False)
MAX_PAGE = 100_000


def _root(request: Request) -> str:
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")


def _html(content: str, settings: Settings, *, cache: str = "no-cache") -> HTMLResponse:
    return HTMLResponse(
        content,
        headers={
            "Content-Security-Policy": content_security_policy(settings),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": cache,
        },
    )


def _page(request: Request, settings: Settings, template: str, **context: Any) -> HTMLResponse:
    return _html(render(template, root=_root(request), **context), settings)


@router.get("")
async def index_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Submit a job and watch it; the gallery of the owner's jobs below."""
    return _page(
        request,
        settings,
        "index.html",
        default_model=JobCreate.model_fields["model_name"].default,
        models=[pattern for pattern in settings.allowed_models if not set("*?[") & set(pattern)],
        formats=OUTPUT_FORMATS,
        statuses=[item.value for item in JobStatus],
    )


@router.get("/upload")
async def upload_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Upload an image and watch its variants being made."""
    presets = [preset.name for preset in settings.variant_presets]
    return _page(request, settings, "upload.html", presets=presets)


@router.get("/jobs/{job_id}")
async def job_page(request: Request, settings: SettingsDep, job_id: JobIdDep) -> HTMLResponse:
    """One job: its details come from the fragment below, with the reader's key."""
    return _page(request, settings, "job.html", job_id=str(job_id))


@fragments.get("/jobs")
async def gallery_fragment(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    signer: SignerDep,
    settings: SettingsDep,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 0,
) -> HTMLResponse:
    """A page of the caller's jobs (an admin's: everyone's), newest first, and the pager."""
    rows, total = await list_jobs(
        session,
        owner=caller.sees,
        status=status_,
        model_name=None,
        kind=None,
        limit=GALLERY_PAGE_SIZE,
        offset=page * GALLERY_PAGE_SIZE,
    )
    pages = max(1, -(-total // GALLERY_PAGE_SIZE))
    content = render(
        "_gallery.html",
        root=_root(request),
        jobs=[job_document(row, signer) for row in rows],
        total=total,
        page=page,
        pages=pages,
        status=status_.value if status_ else None,
    )
    return _html(content, settings, cache="no-store")


@fragments.get("/jobs/{job_id}")
async def job_fragment(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    signer: SignerDep,
    storage: StorageDep,
    settings: SettingsDep,
    job_id: JobIdDep,
) -> HTMLResponse:
    """The job in full: outputs, variants, metadata, timings, error, cancel, Temporal link."""
    row = await get_job(session, job_id, owner=caller.sees)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    job = job_document(row, signer)
    metadata: dict[str, Any] | None = None
    if job.status == JobStatus.COMPLETED:
        await session.commit()  # hold no pooled connection while the bucket answers
        try:
            metadata = await storage.get_json(metadata_key(str(job.id)))
        except ObjectNotFound:
            metadata = None
        if metadata is not None:
            metadata.pop("outputs", None)  # shown signed above; the stored URLs are keys
    content = render(
        "_job.html",
        root=_root(request),
        job=job,
        terminal=job.status.terminal,
        metadata=metadata,
        workflow_url=workflow_url(settings, str(job.id)),
    )
    return _html(content, settings, cache="no-store")


router.include_router(fragments)
