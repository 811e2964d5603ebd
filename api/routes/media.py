"""Direct access to stored media objects by key."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from api.deps import SettingsDep, StorageDep
from api.openapi import responses
from core.keys import media_key_of_name
from core.storage import ObjectNotFound

router = APIRouter(tags=["media"])


@router.get(
    "/media/{name:path}",
    response_class=StreamingResponse,
    responses={
        **responses(404, 503),
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The object, with its own Content-Type",
        },
    },
)
async def get_media(name: str, storage: StorageDep, settings: SettingsDep) -> Response:
    """Stream a media object (or redirect to a presigned URL, per `MEDIA_DELIVERY`).

    Only keys under the media prefix are served: metadata, `..` and unknown keys are 404.
    """
    key = media_key_of_name(name)
    if key is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such media object")
    try:
        info = await storage.stat(key)
    except ObjectNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such media object") from exc
    if settings.media_delivery == "redirect":
        return RedirectResponse(
            await storage.presigned_url(key), status_code=status.HTTP_307_TEMPORARY_REDIRECT
        )
    return StreamingResponse(
        storage.iter_object(key),
        media_type=info.content_type,
        headers={"Content-Length": str(info.size)},
    )
