"""An upload's progress follows its variants: the share stored so far, written straight to
the row by `make_variant` (no workflow event), counted once however often a variant is
retried, and never moved on a generate job's row or on an ended one."""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator
from fractions import Fraction
from typing import Any

from PIL import Image
from temporalio.testing import ActivityEnvironment

from activities.images import ImageActivities
from activities.imaging import ImageWorkers
from activities.urls import Urls
from core.image_jobs import ImageSource, VariantRequest
from core.jobs import JobKind, JobStatus
from core.keys import upload_key
from core.models import Job
from tests.pipeline.conftest import read_row
from tests.pipeline.test_events import assert_well_formed, read_stream
from tests.pipeline.uploading import upload

PRESETS = ["thumbnail", "preview", "compressed"]


def noisy_jpeg(width: int, height: int) -> bytes:
    """A photo-sized JPEG of noise: slow enough to encode that its variants end apart."""
    rng = random.Random(18)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def test_an_uploads_stream_shows_progress_by_variants_before_done(api, sessions):
    made = await upload(
        api,
        noisy_jpeg(3000, 2000),
        filename="noise.jpg",
        content_type="image/jpeg",
        variants=",".join(PRESETS),
    )
    assert made.status_code == 202, made.text
    job_id = made.json()["id"]

    events = (await read_stream(api, job_id)).events

    assert_well_formed(events, job_id)
    names = [event.name for event in events]
    statuses = [event.data["status"] for event in events if event.name == "status"]
    assert statuses in (["pending", "processing", "completed"], ["processing", "completed"])
    progress = [event.data["progress"] for event in events if event.name == "progress"]
    assert progress, f"no progress event before done: {names}"
    assert progress == sorted(set(progress))
    thirds = {Fraction(done, len(PRESETS)) for done in range(1, len(PRESETS) + 1)}
    assert {Fraction(value).limit_denominator(10) for value in progress} <= thirds
    assert names[-2:] == ["status", "done"]  # every progress event came before completed
    row = await read_row(sessions, job_id)
    assert (row.status, row.progress) == ("completed", 1.0)
    assert {variant["name"] for variant in row.variants} == set(PRESETS)


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        yield self._data


async def _row(sessions, storage, *, kind: JobKind, status: JobStatus, presets: list[str]) -> str:
    """A job's row (no workflow) and its uploaded image, as a running upload has them."""
    job = Job(
        kind=kind.value,
        status=status.value,
        prompt="",
        model_name="",
        parameters={"variants": presets},
        external_job_id="p-123" if kind is JobKind.GENERATE else None,
    )
    async with sessions() as session:
        session.add(job)
        await session.commit()
    picture = io.BytesIO()
    Image.new("RGB", (400, 300), (90, 30, 160)).save(picture, "PNG")
    data = picture.getvalue()
    await storage.put_stream(
        upload_key(str(job.id)), _Bytes(data), length=len(data), content_type="image/png"
    )
    return str(job.id)


async def test_a_retried_variant_counts_once_and_only_a_processing_upload_moves(
    settings, sessions, storage
):
    images = ImageActivities(
        storage=storage,
        urls=Urls(settings.public_base_url),
        workers=ImageWorkers(1),
        presets=settings.variant_presets,
        sessions=sessions,
    )
    env = ActivityEnvironment()

    async def make(job_id: str, preset: str) -> Any:
        source = ImageSource(output=0, key=upload_key(job_id))
        request = VariantRequest(job_id=job_id, source=source, preset=preset)
        return await env.run(images.make_variant, request)

    upload_id = await _row(
        sessions, storage, kind=JobKind.PROCESS, status=JobStatus.PROCESSING, presets=PRESETS[:2]
    )
    seen: list[tuple[float, int]] = []
    for preset in ("thumbnail", "thumbnail", "preview", "preview"):  # each one retried
        await make(upload_id, preset)
        row = await read_row(sessions, upload_id)
        seen.append((row.progress, row.event_seq))
    assert [progress for progress, _ in seen] == [0.5, 0.5, 1.0, 1.0]
    first_seq = seen[0][1]
    assert [seq - first_seq for _, seq in seen] == [0, 0, 1, 1]  # a rise, and only a rise

    generated = await _row(
        sessions, storage, kind=JobKind.GENERATE, status=JobStatus.PROCESSING, presets=PRESETS[:1]
    )
    ended = await _row(
        sessions, storage, kind=JobKind.PROCESS, status=JobStatus.CANCELED, presets=PRESETS[:1]
    )
    for job_id in (generated, ended):
        variant = await make(job_id, "thumbnail")
        assert variant.name == "thumbnail"
        assert (await read_row(sessions, job_id)).progress == 0.0
