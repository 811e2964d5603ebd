"""ImageActivities: the steps of ProcessImage, each safe to run twice.

Each reads its source image from the bucket into a temporary file (libvips reads files
lazily, a few rows at a time), does its image work in `ImageWorkers` (threads, bounded),
and writes what it makes under a key derived from the job: a retry replaces, never adds.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import classified
from activities.imaging import ImageWorkers
from activities.running import current_attempt, heartbeats
from activities.urls import Urls
from core.db import SessionFactory
from core.image_jobs import ImageProbe, ImageSource, ProcessMetadataInput, VariantRequest
from core.image_probe import InvalidImage, read_header, supported_type
from core.job_news import record_upload_progress, upload_presets
from core.jobs import StepResult, Variant
from core.keys import metadata_key, variant_key
from core.sniff import SNIFF_BYTES
from core.storage import Storage
from core.variant_presets import CONTENT_TYPES, EXTENSIONS, VariantPreset, preset_named

# How long a variant's progress report may take (the bucket or the database slow, or
# down): past it the report is dropped, and the variant, made and stored, stands.
PROGRESS_SECONDS = 5.0


def _invalid(what: str, exc: InvalidImage) -> ApplicationError:
    """Repeating cannot make unreadable bytes readable: final."""
    return ApplicationError(
        f"{what}: {exc}", current_attempt(), type="InvalidImage", non_retryable=True
    )


@dataclass(frozen=True)
class Fetched:
    """A source image in a temporary file: its path, size and first bytes (to sniff)."""

    path: str
    size: int
    head: bytes


class _Bytes:
    """Bytes in hand as the byte source `Storage.put_stream` reads."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        step = chunk_size or len(self._data) or 1
        for start in range(0, len(self._data), step):
            yield self._data[start : start + step]


class ImageActivities:
    """The activities of the ProcessImage workflow; clients are built once and passed in."""

    def __init__(
        self,
        *,
        storage: Storage,
        urls: Urls,
        workers: ImageWorkers,
        presets: list[VariantPreset],
        sessions: SessionFactory,
    ) -> None:
        self._storage = storage
        self._sessions = sessions
        self._urls = urls
        self._workers = workers
        self._presets = presets

    @activity.defn
    @classified
    async def probe_image(self, source: ImageSource) -> ImageProbe:
        """What the source image is: its sniffed type and its header (no pixel decoded)."""
        async with self._fetched(source.key) as fetched:
            path = fetched.path
            content_type = supported_type(fetched.head)
            if content_type is None:
                raise ApplicationError(
                    f"{source.key} is not an image this service processes",
                    current_attempt(),
                    type="InvalidImage",
                    non_retryable=True,
                )
            try:
                probe = await asyncio.to_thread(read_header, path, content_type)
            except InvalidImage as exc:
                raise _invalid(f"image {source.output}", exc) from None
        return probe.model_copy(update={"attempt": current_attempt()})

    @activity.defn
    @classified
    async def make_variant(self, request: VariantRequest) -> Variant:
        """Make one variant of one image and store it at its own key."""
        preset = preset_named(self._presets, request.preset)
        source = request.source
        heartbeat = asyncio.create_task(heartbeats())
        try:
            async with self._fetched(source.key) as fetched:
                try:
                    rendered = await self._workers.render(
                        fetched.path, preset, source_size=fetched.size
                    )
                except InvalidImage as exc:
                    raise _invalid(f"image {source.output}", exc) from None
            key = variant_key(request.job_id, source.output, preset.name, EXTENSIONS[preset.format])
            content_type = CONTENT_TYPES[preset.format]
            stored = await self._storage.put_stream(
                key, _Bytes(rendered.data), length=len(rendered.data), content_type=content_type
            )
        finally:
            heartbeat.cancel()
        activity.logger.info("stored %s (%d bytes)", key, stored.size)
        await self._report_progress(request)
        return Variant(
            name=preset.name,
            output=source.output,
            key=key,
            url=self._urls.media(key),
            content_type=content_type,
            width=rendered.width,
            height=rendered.height,
            file_size=stored.size,
            sha256=stored.sha256,
            attempt=current_attempt(),
        )

    @activity.defn
    @classified
    async def write_process_metadata(self, request: ProcessMetadataInput) -> StepResult:
        """Write `metadata/{job_id}.json` for an upload: what came in and what was made."""
        job = request.job
        document = {
            "job_id": job.job_id,
            "kind": job.kind.value,
            "upload": job.parameters,
            "probe": request.probe.model_dump(exclude={"attempt"}),
            "variants": [variant.model_dump(exclude={"attempt"}) for variant in request.variants],
            "variant_failures": [failure.model_dump() for failure in request.failures],
            "timings": {"created_at": job.created_at},
        }
        await self._storage.put_json(metadata_key(job.job_id), document)
        return StepResult(attempt=current_attempt())

    async def _report_progress(self, request: VariantRequest) -> None:
        """Raise an upload's progress to the share of its variants stored so far.

        Written straight to the job's row (as the provider's progress is), not through the
        workflow: no history event per variant. The share is counted from the bucket, where
        a retried variant replaces its object rather than adding one, so a retry never
        counts twice. Best effort: a variant that was made must not fail for its progress.
        """
        job_id = uuid.UUID(request.job_id)
        try:
            async with asyncio.timeout(PROGRESS_SECONDS):
                await self._write_progress(job_id, request)
        except Exception as exc:  # a hint only: the variant stands
            activity.logger.warning("progress of %s not written: %r", request.job_id, exc)

    async def _write_progress(self, job_id: uuid.UUID, request: VariantRequest) -> None:
        wanted = await upload_presets(self._sessions, job_id)
        if not wanted:
            return
        others = [
            variant_key(
                request.job_id,
                request.source.output,
                name,
                EXTENSIONS[preset_named(self._presets, name).format],
            )
            for name in wanted
            if name != request.preset
        ]
        found = await asyncio.gather(
            *(self._storage.stat(key) for key in others), return_exceptions=True
        )
        done = 1 + sum(not isinstance(result, BaseException) for result in found)
        await record_upload_progress(self._sessions, job_id, min(done / len(wanted), 1.0))

    @asynccontextmanager
    async def _fetched(self, key: str) -> AsyncIterator[Fetched]:
        """The object at `key` in a temporary file, removed afterwards."""
        descriptor, path = tempfile.mkstemp(prefix="mediagen-image-")
        try:
            size, head = 0, b""
            with os.fdopen(descriptor, "wb") as file:
                async for chunk in self._storage.iter_object(key):
                    if len(head) < SNIFF_BYTES:
                        head += chunk[: SNIFF_BYTES - len(head)]
                    file.write(chunk)
                    size += len(chunk)
            yield Fetched(path, size, head)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(path)
