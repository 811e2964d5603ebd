"""Every object key of the bucket is named here, and nowhere else.

Keys are derived from the job id, so writing an object twice replaces it rather than
adding a second one:

    media/{job_id}.{ext}        the first output
    media/{job_id}-{n}.{ext}    output n (n >= 1)
    metadata/{job_id}.json      the generation metadata document

Stdlib only: workflows import it to name the metadata document in their result.
"""

from __future__ import annotations

MEDIA_PREFIX = "media/"
METADATA_PREFIX = "metadata/"


def media_key(job_id: str, index: int, ext: str) -> str:
    """The key of output `index` of a job."""
    suffix = f"-{index}" if index else ""
    return f"{MEDIA_PREFIX}{job_id}{suffix}.{ext}"


def metadata_key(job_id: str) -> str:
    """The key of a job's metadata document."""
    return f"{METADATA_PREFIX}{job_id}.json"


def media_name(key: str) -> str:
    """A media key without its prefix: the file name clients see (`/media/{name}`)."""
    return key.removeprefix(MEDIA_PREFIX)


def media_key_of_name(name: str) -> str | None:
    """The media key a client's `/media/{name}` asks for, or None if it names anything else
    (another prefix, a sub-path, `..`)."""
    if not name or "/" in name or ".." in name:
        return None
    return f"{MEDIA_PREFIX}{name}"
