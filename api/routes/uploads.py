"""POST /api/v1/uploads: an image to make variants of, recorded as a `process` job (API.md).

Everything about the image is checked before anything is stored or counted against the
owner's quotas: its size as it streams in (413), its type by its first bytes whatever the
client claims (415), its header, read without decoding a pixel, and its pixel count (422:
a decompression bomb is refused in milliseconds). Only then is the file stored at
`uploads/{job_id}/original` and the job recorded as a generate job is
(`api.submit.record_job`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import Header, HTTPException, Request, Response, status
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Caller, CallerDep, keyed_router
from api.deps import (
    SessionDep,
    SettingsDep,
    SignerDep,
    StorageDep,
    get_services,
)
from api.openapi import responses
from api.schemas import WEBHOOK_URL_DESCRIPTION, WEBHOOK_URL_MAX, WebhookUrl
from api.submit import accepted, record_job, refusals_as_http, replay
from api.upload_dirs import new_upload_dir
from api.upload_stream import (
    FILE_FIELD,
    VARIANTS_FIELD,
    WEBHOOK_FIELD,
    ReceivedUpload,
    invalid,
    receive_upload,
)
from api.webhook_urls import check_webhook_url
from core.config import Settings
from core.image_jobs import PROCESSABLE_TYPES, ImageProbe
from core.image_probe import InvalidImage, read_header, supported_type
from core.jobs import JobKind
from core.keys import upload_key
from core.models import Job
from core.quotas import Standing
from core.schemas import JobPublic, job_document
from core.sniff import sniff
from core.storage import Storage

log = logging.getLogger(__name__)
UPLOADS_PATH = "/api/v1/uploads"
router = keyed_router(prefix="/api/v1", tags=["uploads"])
_WEBHOOK_URL = TypeAdapter(WebhookUrl)

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "The image: JPEG, PNG, WebP, GIF, TIFF, AVIF or"
                            " HEIF, at most UPLOAD_MAX_BYTES and UPLOAD_MAX_PIXELS",
                        },
                        VARIANTS_FIELD: {
                            "type": "string",
                            "description": "Comma-separated preset names; default: every preset",
                            "example": "thumbnail,preview",
                        },
                        WEBHOOK_FIELD: {
                            "type": "string",
                            "maxLength": WEBHOOK_URL_MAX,
                            "description": WEBHOOK_URL_DESCRIPTION,
                        },
                    },
                }
            }
        },
    }
}


def presets_of(raw: str | None, settings: Settings) -> list[str]:
    """The preset names a `variants` field asks for (absent: all of them), in its order."""
    known = [preset.name for preset in settings.variant_presets]
    if raw is None:
        return known
    asked = [name.strip() for name in raw.split(",") if name.strip()]
    if not asked:
        raise invalid(VARIANTS_FIELD, f"names no preset; the presets are {', '.join(known)}")
    for name in asked:
        if name not in known:
            shown = name[:40].encode("ascii", "backslashreplace").decode()
            raise invalid(
                VARIANTS_FIELD, f"no preset is named {shown!r}; the presets are {', '.join(known)}"
            )
    return list(dict.fromkeys(asked))


async def probe_image(upload: ReceivedUpload, settings: Settings) -> ImageProbe:
    """The upload's type from its bytes (415 unless we take it) and its header (422 if
    unreadable or over the pixel limit); no pixel is decoded."""
    content_type = supported_type(upload.head)
    if content_type is None:
        seen = sniff(upload.head) if upload.size else "empty"
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"{FILE_FIELD} is {seen or 'binary data of no known image format'}, not an image"
            f" of a supported type: {', '.join(sorted(PROCESSABLE_TYPES))}",
        )
    try:
        probe = await asyncio.to_thread(read_header, str(upload.path), content_type)
    except InvalidImage as exc:
        raise invalid(FILE_FIELD, f"the {content_type} header is unreadable: {exc}"[:300]) from exc
    pixels = probe.width * probe.height
    if pixels > settings.upload_max_pixels:
        raise invalid(
            FILE_FIELD,
            f"{probe.width}x{probe.height} is {pixels} pixels, over the limit of"
            f" {settings.upload_max_pixels} pixels",
        )
    return probe


def webhook_of(raw: str | None) -> str | None:
    """The `webhook_url` field as generate takes its own (a 422 naming it); where it points
    is checked apart (`check_webhook_url`), as generate does after a replay."""
    if raw is None:
        return None
    try:
        return _WEBHOOK_URL.validate_python(raw)
    except ValidationError as exc:
        raise invalid(WEBHOOK_FIELD, exc.errors()[0]["msg"]) from None


def fingerprint(upload: ReceivedUpload, presets: list[str], webhook_url: str | None) -> str:
    """What tells a replay from another request under one Idempotency-Key: the file's bytes,
    the presets asked for (in any order) and the webhook, if one was given."""
    request: dict[str, Any] = {"file_sha256": upload.sha256, "variants": sorted(presets)}
    if webhook_url is not None:  # absent, the digest is what it was before webhooks
        request["webhook_url"] = webhook_url
    return hashlib.sha256(json.dumps(request).encode()).hexdigest()


async def _submit(
    request: Request,
    directory: Path,
    *,
    caller: Caller,
    session: AsyncSession,
    settings: Settings,
    storage: Storage,
    idempotency_key: str | None,
) -> tuple[Job, Standing | None]:
    upload = await receive_upload(request, directory, max_bytes=settings.upload_max_bytes)
    presets = presets_of(upload.variants, settings)
    probe = await probe_image(upload, settings)
    webhook_url = webhook_of(upload.webhook_url)
    request_hash = fingerprint(upload, presets, webhook_url)
    if idempotency_key is not None:
        existing = await replay(session, caller.owner, idempotency_key, request_hash)
        if existing is not None:
            return existing, None
        await session.rollback()  # hold no connection while the file is stored
    if webhook_url is not None:
        await check_webhook_url(webhook_url, settings)  # a 422, nothing written
    job = Job(
        kind=JobKind.PROCESS.value,
        owner=caller.owner,
        prompt="",
        model_name="",
        webhook_url=webhook_url,
        parameters={
            "filename": upload.filename,
            "content_type": probe.content_type,
            "file_size": upload.size,
            "width": probe.width,
            "height": probe.height,
            "variants": presets,
        },
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    key = upload_key(str(job.id))
    stored = False

    async def store() -> None:
        nonlocal stored
        async with get_services(request).upload_stores:
            stored = True  # a store cut short may leave a part of the object
            await storage.put_file(
                key, upload.path, length=upload.size, content_type=probe.content_type
            )

    try:
        made, standing = await record_job(
            session, job, caller=caller, settings=settings, prepare=store
        )
    except BaseException:
        if stored:
            await _discard(storage, key)
        raise
    if made.id != job.id and stored:  # a request with the same key made the job first
        await _discard(storage, key)
    return made, standing


async def _discard(storage: Storage, key: str) -> None:
    """Remove an upload that no job refers to, best effort (nothing reads it anyway)."""
    try:
        await storage.delete([key])
    except Exception:
        log.warning("could not remove an upload no job refers to", exc_info=True)


@router.post(
    "/uploads",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(409, 413, 415, 422, 429, 503),
    openapi_extra=UPLOAD_BODY,
)
async def upload(
    request: Request,
    response: Response,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    signer: SignerDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> JobPublic:
    """Upload an image (`multipart/form-data`: `file`, and optionally `variants` and
    `webhook_url`) to be made into variants in the background; answers at once with the
    pending `process` job.

    `413` over UPLOAD_MAX_BYTES, `415` not an image of a supported type (by its bytes,
    whatever its name or Content-Type say), `422` an unreadable header, over
    UPLOAD_MAX_PIXELS, an unknown preset, or a `webhook_url` generate would refuse.
    `Idempotency-Key`, quotas and the webhook's call as for generate.
    """
    directory = await new_upload_dir()
    try:
        with refusals_as_http():
            job, standing = await _submit(
                request,
                directory,
                caller=caller,
                session=session,
                settings=settings,
                storage=storage,
                idempotency_key=idempotency_key,
            )
    finally:
        await asyncio.to_thread(shutil.rmtree, directory, True)
    accepted(response, job, standing)
    return job_document(job, signer)
