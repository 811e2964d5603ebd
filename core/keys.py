"""Every object key of the bucket is named here, and nowhere else.

Keys are derived from the job id, so writing an object twice replaces it rather than
adding a second one:

    media/{job_id}.{ext}                  the first output
    media/{job_id}-{n}.{ext}              output n (n >= 1)
    metadata/{job_id}.json                the job's metadata document
    uploads/{job_id}/original             an uploaded image, as it came
    variants/{job_id}/{name}.{ext}        variant `name` of the first output (or the upload)
    variants/{job_id}/{name}-{n}.{ext}    variant `name` of output n (n >= 1)

Clients reach media and variants as `/media/{name}`: a media key without its prefix, or a
variant key whole. Stdlib only: workflows import it to name objects in their results.
"""

from __future__ import annotations

import re

MEDIA_PREFIX = "media/"
METADATA_PREFIX = "metadata/"
UPLOADS_PREFIX = "uploads/"
VARIANTS_PREFIX = "variants/"

_FILE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
_VARIANT_NAME = re.compile(rf"variants/[0-9a-f-]{{36}}/{_FILE_NAME}")


def media_key(job_id: str, index: int, ext: str) -> str:
    """The key of output `index` of a job."""
    suffix = f"-{index}" if index else ""
    return f"{MEDIA_PREFIX}{job_id}{suffix}.{ext}"


def metadata_key(job_id: str) -> str:
    """The key of a job's metadata document."""
    return f"{METADATA_PREFIX}{job_id}.json"


def upload_key(job_id: str) -> str:
    """The key of the image uploaded for a `process` job, stored as it came."""
    return f"{UPLOADS_PREFIX}{job_id}/original"


def variant_key(job_id: str, output: int, name: str, ext: str) -> str:
    """The key of variant `name` made from output `output` of a job (0: the upload)."""
    suffix = f"-{output}" if output else ""
    return f"{VARIANTS_PREFIX}{job_id}/{name}{suffix}.{ext}"


def media_name(key: str) -> str:
    """The name clients see for a servable key (`/media/{name}`)."""
    return key.removeprefix(MEDIA_PREFIX)


def media_key_of_name(name: str) -> str | None:
    """The key a client's `/media/{name}` asks for, or None if it names anything else
    (another prefix, an upload, a metadata document, `..`)."""
    if _VARIANT_NAME.fullmatch(name) and ".." not in name:
        return name
    if not name or "/" in name or ".." in name:
        return None
    return f"{MEDIA_PREFIX}{name}"
