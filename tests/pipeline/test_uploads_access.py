"""Uploads seen from outside: who sees them, how they are listed, how their variants are
served (and their originals not), the quotas, and the API's memory under a 50 MB upload."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from core.api_keys import create_key
from core.jobs import (
    GenerateMediaInput,
    JobError,
    JobKind,
    JobStatus,
    JobUpdate,
    Variant,
    VariantFailure,
)
from core.keys import metadata_key, upload_key, variant_key
from core.media_urls import MediaSigner
from core.repository import mirror_job_update
from tests.pipeline.conftest import read_row
from tests.pipeline.tenants import Tenant, assert_refused, mint
from tests.pipeline.uploading import (
    BOUNDARY,
    FORM_TYPE,
    owned,
    png,
    streamed_form,
    upload,
    upload_keys,
)

MB = 1024 * 1024


@pytest.fixture
async def keyless(settings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=settings.public_base_url, timeout=30) as client:
        yield client


async def raw_request(settings: Any, head: str) -> bytes:
    """Send `head` as it is (no client normalises its path) and read the whole answer."""
    host, port = settings.public_base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head.encode())
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        yield self.data


def webp(size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (10, 200, 10)).save(out, "WEBP")
    return out.getvalue()


async def test_no_key_is_401(keyless) -> None:
    response = await keyless.post("/api/v1/uploads", files={"file": ("a.png", png(), "image/png")})

    assert_refused(response, "POST /api/v1/uploads")


async def test_a_declared_length_over_the_limit_is_413_before_the_body(sessions, settings):
    tenant = await mint(sessions)

    answer = await raw_request(  # and no body at all: the answer must not wait for it
        settings,
        f"POST /api/v1/uploads HTTP/1.1\r\nHost: api\r\nConnection: close\r\n"
        f"Authorization: Bearer {tenant.token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {settings.upload_max_bytes * 4}\r\n\r\n",
    )

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert str(settings.upload_max_bytes).encode() in answer


async def test_another_owner_cannot_see_an_upload(api, sessions) -> None:
    owner, stranger = await mint(sessions), await mint(sessions)
    job_id = (await upload(api, png(), tenant=owner)).json()["id"]

    theirs = await api.get(f"/api/v1/status/{job_id}", headers=stranger.headers)
    mine = await api.get(f"/api/v1/status/{job_id}", headers=owner.headers)

    assert theirs.status_code == 404
    assert mine.status_code == 200
    assert await owned(api, stranger, kind="process") == []


async def test_jobs_are_listed_by_kind(api, sessions) -> None:
    tenant = await mint(sessions)
    uploaded = (await upload(api, png(), tenant=tenant)).json()["id"]
    generated = await api.post(
        "/api/v1/generate", json={"prompt": "a listed fox"}, headers=tenant.headers
    )
    assert generated.status_code == 202, generated.text

    processes = await owned(api, tenant, kind="process")
    generates = await owned(api, tenant, kind="generate")
    everything = await owned(api, tenant)
    bogus = await api.get("/api/v1/jobs", params={"kind": "bogus"}, headers=tenant.headers)

    assert [job["id"] for job in processes] == [uploaded]
    assert [job["id"] for job in generates] == [generated.json()["id"]]
    assert {job["id"] for job in everything} == {uploaded, generated.json()["id"]}
    assert bogus.status_code == 422
    assert bogus.json()["detail"][0]["loc"] == ["query", "kind"]


async def test_a_mirrored_variant_is_in_the_document_and_served_once_signed(
    api, keyless, sessions, storage
) -> None:
    tenant = await mint(sessions)
    job_id = str(uuid.uuid4())
    data = webp()
    key = variant_key(job_id, 0, "thumbnail", "webp")
    await storage.put_stream(key, _Bytes(data), length=len(data), content_type="image/webp")
    digest = hashlib.sha256(data).hexdigest()
    now = datetime.now(UTC)
    job = GenerateMediaInput(
        job_id=job_id,
        prompt="",
        model_name="",
        created_at=now,
        owner=tenant.owner,
        kind=JobKind.PROCESS,
    )
    variant = Variant(
        name="thumbnail",
        output=0,
        key=key,
        url="",
        content_type="image/webp",
        width=8,
        height=8,
        file_size=len(data),
        sha256=digest,
        attempt=2,
    )
    failure = VariantFailure(
        name="preview", output=0, error=JobError(type="ImageError", message="no", retryable=False)
    )
    update = JobUpdate(
        job=job,
        status=JobStatus.COMPLETED,
        at=now,
        retry_count=0,
        variants=[variant],
        variant_failures=[failure],
    )
    async with sessions() as session:  # the row is lost: the mirror recreates it
        assert (await mirror_job_update(session, update, result_url=None)).written

    document = (await api.get(f"/api/v1/status/{job_id}", headers=tenant.headers)).json()
    [shown] = document["variants"]
    served = await keyless.get(shown.pop("url"))

    assert document["kind"] == "process"
    assert shown == {
        "name": "thumbnail",
        "output": 0,
        "content_type": "image/webp",
        "width": 8,
        "height": 8,
        "file_size": len(data),
        "sha256": digest,
    }
    assert document["variant_failures"] == [failure.model_dump()]
    assert "attempt" not in (await read_row(sessions, job_id)).variants[0]
    assert served.status_code == 200, served.text
    assert served.content == data
    assert served.headers["content-type"] == "image/webp"
    assert served.headers["x-content-type-options"] == "nosniff"
    unsigned = await keyless.get(f"/media/{key}")
    assert unsigned.status_code == 403


async def test_uploads_and_metadata_are_never_served(api, keyless, sessions, settings):
    tenant = await mint(sessions)
    job_id = (await upload(api, png(), tenant=tenant)).json()["id"]
    signer = MediaSigner.from_settings(settings)

    unsigned = await keyless.get(f"/media/{upload_key(job_id)}")
    signed = await keyless.get(signer.url(upload_key(job_id)))
    metadata = await keyless.get(signer.url(metadata_key(job_id)))
    climbing = signer.url(f"variants/{job_id}/../../{upload_key(job_id)}")
    path = climbing.removeprefix(settings.public_base_url)
    dotted = await raw_request(
        settings, f"GET {path} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n"
    )

    assert unsigned.status_code == 403
    for response in (signed, metadata):
        assert response.status_code == 404
        assert response.json() == {"detail": "no such media object"}
    assert dotted.startswith(b"HTTP/1.1 404"), dotted[:200]
    assert b"no such media object" in dotted
    assert b"original" not in dotted.partition(b"\r\n\r\n")[2]


async def test_uploads_count_against_the_quota(api, sessions, settings) -> None:
    owner = f"tenant-{uuid.uuid4().hex[:10]}"
    async with sessions() as session:
        new = await create_key(
            session, name="slow", owner=owner, rate_limit_per_minute=1, max_active_jobs=100
        )
    tenant = Tenant(owner=owner, token=new.token, key_id=new.record.id)
    first = await upload(api, png(), tenant=tenant)
    stored = await upload_keys(settings)

    second = await upload(api, png(20, 20), tenant=tenant)

    assert first.status_code == 202, first.text
    assert second.status_code == 429, second.text
    assert int(second.headers["retry-after"]) > 0
    assert await upload_keys(settings) == stored
    assert len(await owned(api, tenant)) == 1


def _command_and_noise(pid: int, path: Path) -> tuple[bytes, int]:
    """The process's command line, and a PNG of 48 MB of noise (which PNG cannot compress)
    written at `path`, with its size."""
    side = 4000
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path, compress_level=1)
    return Path(f"/proc/{pid}/cmdline").read_bytes(), path.stat().st_size


def rss(pid: int) -> int:
    """The process's resident set size in bytes (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def test_a_50_mb_upload_streams_through_in_bounded_memory(
    api, stack, sessions, storage, settings, tmp_path
) -> None:
    pid = stack.pid("api")
    assert pid is not None
    big = tmp_path / "noise.png"
    command, size = await asyncio.to_thread(_command_and_noise, pid, big)
    assert b"uvicorn" in command
    assert 45 * MB < size <= settings.upload_max_bytes
    tenant = await mint(sessions)
    assert (await upload(api, png(), tenant=tenant)).status_code == 202  # warm up
    before = rss(pid)

    def chunks():
        with big.open("rb") as file:
            while chunk := file.read(256 * 1024):
                yield chunk

    response = await api.post(
        "/api/v1/uploads", content=streamed_form(chunks()), headers={**FORM_TYPE, **tenant.headers}
    )
    grown = rss(pid) - before

    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.json()["parameters"]["file_size"] == size
    assert (await storage.stat(upload_key(job_id))).size == size
    assert grown < 16 * MB, f"the API grew by {grown / MB:.1f} MB"


async def test_the_openapi_document_describes_uploads(api) -> None:
    spec = (await api.get("/openapi.json")).json()

    body = spec["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]
    job = spec["components"]["schemas"]["JobPublic"]["properties"]
    kinds = [p for p in spec["paths"]["/api/v1/jobs"]["get"]["parameters"] if p["name"] == "kind"]

    fields = body["multipart/form-data"]["schema"]["properties"]
    assert set(fields) == {"file", "variants", "webhook_url"}
    assert {"kind", "variants", "variant_failures"} <= set(job)
    assert len(kinds) == 1
