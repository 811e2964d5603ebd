"""The bucket as the fault suite reads it: its keys, whose job each one is, and their bytes.

Listing is the suite's own need, so it goes through a Minio client of its own, built from
the stack's settings like the product's, rather than through `Storage`.
"""

from __future__ import annotations

import hashlib

from core.config import Settings
from core.keys import MEDIA_PREFIX, METADATA_PREFIX, VARIANTS_PREFIX
from core.storage import Storage, minio_client

ID_LENGTH = 36


async def list_keys(settings: Settings, *prefixes: str) -> list[str]:
    """Every key under each of `prefixes`, in that order, listed by a client closed afterwards."""
    client = minio_client(settings)
    try:
        return [
            str(obj.object_name)
            for prefix in prefixes
            async for obj in client.list_objects(settings.s3_bucket, prefix=prefix, recursive=True)
        ]
    finally:
        await client.close_session()


def owner_of(key: str) -> tuple[str, int | None]:
    """`media/{id}-2.png` -> (id, 2); `metadata/{id}.json` -> (id, None);
    `variants/{id}/preview-2.webp` -> (id, 2), the output the variant was made from."""
    if key.startswith(METADATA_PREFIX):
        return key.removeprefix(METADATA_PREFIX)[:ID_LENGTH], None
    if key.startswith(VARIANTS_PREFIX):
        rest = key.removeprefix(VARIANTS_PREFIX)
        stem = rest[ID_LENGTH + 1 :].split(".", 1)[0]
        output = stem.rpartition("-")[2] if "-" in stem else "0"
        return rest[:ID_LENGTH], int(output) if output.isdigit() else -1
    rest = key.removeprefix(MEDIA_PREFIX)
    suffix = rest[ID_LENGTH:]
    index = suffix[1:].split(".", 1)[0] if suffix.startswith("-") else "0"
    return rest[:ID_LENGTH], int(index) if index.isdigit() else -1


async def object_digest(storage: Storage, key: str) -> tuple[str, int]:
    """The SHA-256 (hex) and size of the object at `key`, streamed."""
    digest, size = hashlib.sha256(), 0
    async for chunk in storage.iter_object(key):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
