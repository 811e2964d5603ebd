"""Storage: the media bucket through `miniopy_async.Minio` (keys are named in `core.keys`)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from miniopy_async.api import Minio
from miniopy_async.error import S3Error

from core.config import Settings

# Multipart part size: S3's minimum, so one upload holds about one part in memory.
PART_SIZE = 5 * 1024 * 1024
CONTENT_TYPES = {
    "png": "image/png",
    "webp": "image/webp",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
}
EXTENSIONS = {content_type: ext for ext, content_type in reversed(CONTENT_TYPES.items())}


class ObjectNotFound(Exception):
    """No object has that key."""


class ByteSource(Protocol):
    def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]: ...


def _json_default(value: Any) -> str:
    """Datetimes as ISO 8601 (the API's format); anything else as its string."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


class _HashingReader:
    """Adapts a streamed HTTP body to the `read(size)` Minio wants, hashing as it goes.

    It answers each read with the whole size asked for (one part), because Minio
    concatenates short reads as immutable bytes, which is quadratic in the part size.
    It holds the body's chunks as they come and joins them once per part: one copy of
    each part, so the worker's memory grows by little more than a part per upload.
    """

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._held: list[bytes] = []
        self._held_size = 0
        self.sha256 = hashlib.sha256()
        self.size = 0

    async def read(self, size: int = -1) -> bytes:
        while size < 0 or self._held_size < size:
            chunk = await anext(self._chunks, b"")
            if not chunk:
                break
            self.sha256.update(chunk)
            self.size += len(chunk)
            self._held.append(chunk)
            self._held_size += len(chunk)
        if 0 <= size < self._held_size:  # the last chunk's tail starts the next part
            tail = self._held_size - size
            last = self._held[-1]
            self._held[-1] = last[:-tail]
            data = b"".join(self._held)
            self._held, self._held_size = [last[-tail:]], tail
            return data
        data = b"".join(self._held)
        self._held, self._held_size = [], 0
        return data


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str


class Storage:
    """The media bucket. Knows nothing about Temporal; never retries (Temporal does)."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
        return cls(client, settings.s3_bucket)

    async def close(self) -> None:
        await self._client.close_session()  # type: ignore[no-untyped-call]

    async def ping(self) -> None:
        """Raises unless the bucket is reachable and exists (for health checks)."""
        if not await self._client.bucket_exists(self.bucket):
            raise ObjectNotFound(f"bucket {self.bucket} does not exist")

    async def put_stream(
        self, key: str, body: ByteSource, *, length: int | None, content_type: str
    ) -> StoredObject:
        """Stream `body` into `key` in parts, so memory stays bounded whatever its size."""
        reader = _HashingReader(body.aiter_bytes(64 * 1024))
        await self._client.put_object(
            self.bucket,
            key,
            reader,  # type: ignore[arg-type]  # Minio awaits read() when it returns a coroutine
            length if length is not None else -1,
            content_type=content_type,
            part_size=PART_SIZE,
            num_parallel_uploads=1,
        )
        if length is not None and reader.size != length:
            raise OSError(f"{key}: expected {length} bytes, the source sent {reader.size}")
        return StoredObject(key, reader.size, reader.sha256.hexdigest(), content_type)

    async def put_json(self, key: str, document: dict[str, Any]) -> None:
        data = json.dumps(document, indent=2, default=_json_default).encode()
        await self._client.put_object(
            self.bucket, key, io.BytesIO(data), len(data), content_type="application/json"
        )

    async def get_json(self, key: str) -> dict[str, Any]:
        response = await self._get(key)
        try:
            document: dict[str, Any] = json.loads(await response.read())
        finally:
            response.close()
        return document

    async def stat(self, key: str) -> ObjectInfo:
        try:
            info = await self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}:
                raise ObjectNotFound(key) from exc
            raise
        return ObjectInfo(key, info.size or 0, info.content_type or "application/octet-stream")

    async def iter_object(self, key: str, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        """The object's bytes, streamed; the connection is released when iteration ends."""
        response = await self._get(key)
        try:
            async for chunk in response.content.iter_chunked(chunk_size):
                yield chunk
        finally:
            response.close()

    async def presigned_url(self, key: str, expires: timedelta = timedelta(hours=1)) -> str:
        url: str = await self._client.presigned_get_object(self.bucket, key, expires=expires)
        return url

    async def _get(self, key: str) -> Any:
        try:
            return await self._client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}:
                raise ObjectNotFound(key) from exc
            raise
