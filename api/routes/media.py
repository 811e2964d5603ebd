"""Direct access to stored media objects by key."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from api.deps import SettingsDep, SignerDep, StorageDep
from api.openapi import responses
from core.keys import media_key_of_name
from core.storage import ObjectNotFound

router = APIRouter(tags=["media"])
MEDIA_CSP = "default-src 'none'; sandbox"
INLINE_TYPES = ("image/", "video/", "audio/")


@router.get(
    "/media/{name:path}",
    response_class=StreamingResponse,
    responses={
        **responses(403, 404, 503),
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The object, with its own Content-Type",
        },
    },
)
async def get_media(
    name: str,
    storage: StorageDep,
    settings: SettingsDep,
    signer: SignerDep,
    exp: Annotated[str | None, Query(max_length=20)] = None,
    sig: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Stream a media object (or redirect to a presigned URL, per `MEDIA_DELIVERY`).

    Only the signed URLs of job documents are served (`?exp=…&sig=…`): unsigned, expired or
    altered ones are 403. Only keys under the media prefix exist: metadata, `..` and
    unknown keys are 404.
    """
    refusal = signer.check(name, exp, sig)
    if refusal is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, refusal.value)
    key = media_key_of_name(name)
    if key is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such media object")
    try:
        info = await storage.stat(key)
    except ObjectNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such media object") from exc
    if settings.media_delivery == "redirect":
        # The presigned URL lives no longer than the signed one it stands for.
        left = timedelta(seconds=max(1, int(exp or 0) - int(time.time())))
        return RedirectResponse(
            await storage.presigned_url(key, expires=left),
            status_code=status.HTTP_307_TEMPORARY_REDIRECT,
        )
    return StreamingResponse(
        storage.iter_object(key),
        media_type=info.content_type,
        headers={"Content-Length": str(info.size), **served_headers(info.content_type)},
    )


def served_headers(content_type: str) -> dict[str, str]:
    """What keeps a stored object inert in a browser, whatever it holds (issue #16).

    Objects stored before outputs were checked may be anything (HTML, SVG): no sniffing, no
    script, no subresource, a sandbox; anything but image, video or audio is a download.
    """
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": MEDIA_CSP,
    }
    kind = content_type.split(";")[0].strip().lower()
    if not kind.startswith(INLINE_TYPES) or kind == "image/svg+xml":
        headers["Content-Disposition"] = "attachment"
    return headers
