"""Uploading in tests: images made on the spot, and the form posted whole or streamed."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
from PIL import Image

from core.keys import UPLOADS_PREFIX
from core.storage import minio_client
from tests.pipeline.tenants import Tenant

BOUNDARY = "mediagen-test-boundary-7f3a"


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 30)).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 80, height: int = 60) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 90, 200)).save(out, "JPEG", quality=80)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims `width` x `height` (10 gigapixels by default)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


async def upload(
    api: httpx.AsyncClient,
    data: bytes,
    *,
    tenant: Tenant | None = None,
    filename: str = "photo.png",
    content_type: str = "image/png",
    variants: str | None = None,
    webhook_url: str | None = None,
    key: str | None = None,
) -> httpx.Response:
    """POST one file as multipart/form-data (with the tenant's key, else the admin's)."""
    headers = dict(tenant.headers) if tenant else {}
    if key is not None:
        headers["Idempotency-Key"] = key
    texts = {"variants": variants, "webhook_url": webhook_url}
    form = {name: value for name, value in texts.items() if value is not None} or None
    return await api.post(
        "/api/v1/uploads",
        files={"file": (filename, data, content_type)},
        data=form,
        headers=headers,
    )


def form_head(filename: str = "big.png", content_type: str = "image/png") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        f"\r\nContent-Type: {content_type}\r\n\r\n"
    ).encode()


async def streamed_form(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """A multipart body whose file part is `chunks`, sent chunked (no Content-Length)."""
    yield form_head()
    for chunk in chunks:
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


FORM_TYPE = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


async def upload_keys(settings: Any) -> set[str]:
    """Every key under uploads/ in the stack's bucket."""
    client = minio_client(settings)
    try:
        listing = client.list_objects(settings.s3_bucket, prefix=UPLOADS_PREFIX, recursive=True)
        return {str(obj.object_name) async for obj in listing}
    finally:
        await client.close_session()


async def owned(api: httpx.AsyncClient, tenant: Tenant, **query: str) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/jobs", params=query, headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def object_bytes(storage: Any, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.iter_object(key)])
