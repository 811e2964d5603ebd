"""The Temporal contract of image processing: the `ProcessImage` workflow's input and result.

A `process` job (an upload) runs it as a job of its own; a `generate` job runs it as a child
workflow for its image outputs, and records the variants itself. Stdlib and pydantic only,
like `core.jobs`.
"""

from __future__ import annotations

from pydantic import BaseModel

from core.jobs import GenerateMediaInput, JobStatus, Variant, VariantFailure

# Image types we process, by their sniffed type (GIF: the first frame; HEIF/AVIF where
# libvips reads them, which the pyvips-binary wheel does).
PROCESSABLE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/tiff",
        "image/avif",
        "image/heif",
        "image/heic",
    }
)
# The variants every generated image gets (an upload gets the ones it asks for).
GENERATED_PRESETS = ("thumbnail", "preview")


class ImageSource(BaseModel):
    """An image to make variants of: output `output` of its job (0: an upload), at `key`."""

    output: int
    key: str


class ProcessImageInput(BaseModel):
    """What to make: these presets (by name) of each source.

    `own_job`: the run is a job of its own (an upload) that mirrors its statuses and writes its
    metadata; else it is a step of a generate job, which records the variants itself.
    """

    job: GenerateMediaInput
    sources: list[ImageSource]
    presets: list[str]
    own_job: bool = True


class ImageProbe(BaseModel):
    """What an image's header says, read without decoding its pixels."""

    content_type: str
    width: int
    height: int
    orientation: int = 1
    has_icc_profile: bool = False
    frames: int = 1
    bands: int = 3
    interpretation: str = "srgb"
    attempt: int = 1


class VariantRequest(BaseModel):
    """One variant to make and store."""

    job_id: str
    source: ImageSource
    preset: str


class ProcessMetadataInput(BaseModel):
    """The metadata document of a `process` job."""

    job: GenerateMediaInput
    probe: ImageProbe
    variants: list[Variant]
    failures: list[VariantFailure]


class ProcessImageResult(BaseModel):
    """The variants made and those that failed."""

    job_id: str
    status: JobStatus
    variants: list[Variant]
    failures: list[VariantFailure]
    retry_count: int
