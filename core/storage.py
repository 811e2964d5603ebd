"""Storage: the media bucket through `miniopy_async.Minio` (keys are named in `core.keys`)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import certifi
from miniopy_async.api import Minio
from miniopy_async.error import S3Error

from core.config import Settings

# Multipart part size: S3's minimum, so one upload holds about one part in memory.
PART_SIZE = 5 * 1024 * 1024
# The largest object S3 takes in one PUT; `put_file` streams a file up to it from disk.
SINGLE_PUT_MAX = 5 * 1024**3
HASH_READ_BYTES = 1024 * 1024
# miniopy_async's own HTTP client waits 5 minutes to connect and 5 for each read, so a store
# that stops answering held a request or an activity for minutes; these fail it in seconds
# (the API answers 503, Temporal retries the activity). The read timeout bounds each wait
# for bytes, not a whole transfer, so a large object still streams.
S3_CONNECT_TIMEOUT = 5.0
S3_READ_TIMEOUT = 30.0
S3_CONNECTIONS = 10  # per client, as miniopy_async's own
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


class ObjectTooLarge(Exception):
    """The source holds more bytes than allowed; nothing was stored (a multipart upload is
    aborted by the client)."""


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

    def __init__(self, chunks: AsyncIterator[bytes], limit: int | None = None) -> None:
        self._chunks = chunks
        self._limit = limit
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
            if self._limit is not None and self.size > self._limit:
                raise ObjectTooLarge(f"more than {self._limit} bytes")
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


def _size_and_sha256(file: io.BufferedReader) -> tuple[int, str]:
    """The file's size and SHA-256, read from its start; it is left at its start."""
    digest, size = hashlib.sha256(), 0
    file.seek(0)
    while chunk := file.read(HASH_READ_BYTES):
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    return size, digest.hexdigest()


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


def minio_client(settings: Settings, *, session: aiohttp.ClientSession | None = None) -> Minio:
    """A Minio client of the configured store (with miniopy_async's own session if none)."""
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
        region=settings.s3_region,
        session=session,
    )


class Storage:
    """The media bucket. Knows nothing about Temporal; never retries (Temporal does)."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        """A client of the configured bucket; call it in the event loop that will use it.

        Its HTTP session is ours rather than miniopy_async's default, for the timeouts, and
        because that default retries 5xx answers itself (Temporal retries, not Storage).
        """
        tls = ssl.create_default_context()  # the system's CAs (and SSL_CERT_FILE's) ...
        tls.load_verify_locations(certifi.where())  # ... and certifi's, as miniopy_async
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=S3_CONNECTIONS, ssl=tls),
            # sock_connect, not connect: that one would also bound the wait for a pooled
            # connection, which a busy worker's many uploads legitimately queue for.
            timeout=aiohttp.ClientTimeout(
                sock_connect=S3_CONNECT_TIMEOUT, sock_read=S3_READ_TIMEOUT
            ),
        )
        return cls(minio_client(settings, session=http), settings.s3_bucket)

    async def close(self) -> None:
        await self._client.close_session()  # type: ignore[no-untyped-call]

    async def ping(self) -> None:
        """Raises unless the bucket is reachable and exists (for health checks)."""
        if not await self._client.bucket_exists(self.bucket):
            raise ObjectNotFound(f"bucket {self.bucket} does not exist")

    async def put_stream(
        self,
        key: str,
        body: ByteSource,
        *,
        length: int | None,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Stream `body` into `key` in parts, so memory stays bounded whatever its size.

        Raises:
            ObjectTooLarge: `body` says or turns out to be longer than `max_bytes`.
        """
        if max_bytes is not None and length is not None and length > max_bytes:
            raise ObjectTooLarge(f"{length} bytes, more than {max_bytes}")
        reader = _HashingReader(body.aiter_bytes(64 * 1024), max_bytes)
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

    async def put_file(
        self, key: str, path: Path, *, length: int | None, content_type: str
    ) -> StoredObject:
        """Store the file at `path` in one PUT whose body aiohttp reads from the file itself.

        `put_stream` joins each part (5 MiB) in memory, so every upload being stored holds
        one part more; here the body goes from the file to the socket in aiohttp's 64 KiB
        reads and memory does not grow with the file (figure 9, docs/BENCHMARKS.md). The
        file must not change meanwhile: it is hashed (in a thread) before it is sent.

        Raises:
            ObjectTooLarge: the file is over what S3 takes in one PUT (5 GiB).
        """
        file = await asyncio.to_thread(path.open, "rb")
        try:
            size, digest = await asyncio.to_thread(_size_and_sha256, file)
            if length is not None and size != length:
                raise OSError(f"{key}: expected {length} bytes, the file holds {size}")
            if size > SINGLE_PUT_MAX:
                raise ObjectTooLarge(f"{size} bytes, more than one PUT takes ({SINGLE_PUT_MAX})")
            await self._client.put_object(
                self.bucket, key, file, size, content_type=content_type, part_size=size
            )
        finally:
            await asyncio.to_thread(file.close)
        return StoredObject(key, size, digest, content_type)

    async def delete(self, keys: list[str]) -> None:
        """Remove objects; a key that is already gone is no error."""
        for key in keys:
            await self._client.remove_object(self.bucket, key)

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
