"""The image work of a variant: decode, turn upright, sRGB, resize, strip, encode WebP.

Pure and blocking (no network, no bucket): `render_variant` reads one local file and returns
the encoded bytes. `ImageWorkers` is how async code calls it: in threads, at most
`max_concurrency` images decoded at once, so decoding never blocks the event loop and the
worker's memory is bounded by that many images in flight.

Everything goes through `pyvips.Image.thumbnail`, whichever the fit: it picks the cheapest
decode for the target size (JPEG shrink-on-load, WebP/HEIF scale-on-load), streams the file
(sequential access), reads the first frame only of an animated GIF/WebP, and turns the image
upright by its EXIF orientation. The caller measures the header first (`core.image_probe`),
so a decompression bomb never reaches this module.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import pyvips

from core.image_probe import InvalidImage
from core.variant_presets import CONTENT_TYPES, VariantPreset

# libvips caches recent operations (and their pixel buffers) to reuse them; a worker renders
# each image once, so the cache only holds memory (up to 100 MB and 100 open files by
# default) that nothing reads again. Off for the whole process, once, at import.
pyvips.cache_set_max(0)
pyvips.cache_set_max_mem(0)
pyvips.cache_set_max_files(0)

# The lowest WebP quality `fit="original"` goes down to to stay no bigger than the source.
QUALITY_FLOOR = 30
# A truncated or corrupt file fails instead of decoding to grey.
FAIL_ON = "truncated"
# libwebp's `method` (0 fastest .. 6 smallest); 4 is its default. The encode is most of a
# variant's time: effort 2 about halves it at nearly the same size (docs/BENCHMARKS.md,
# figure 8), a choice left to make with the product's owner, so the default stays.
WEBP_EFFORT = 4


def threads_per_image(max_concurrency: int) -> int:
    """libvips' threads for each image when `max_concurrency` images render at once.

    libvips gives every pipeline a thread per core by default; with the pool rendering one
    image per core, these would only take turns on the same cores. Measured on 2 cores, 2
    images at once (docs/BENCHMARKS.md, figure 8): no CPU difference within the noise of a
    shared machine (7.2 against 7.4 CPU s for the three sources), so this is about not
    oversubscribing the cores rather than speed. One image at a time keeps every core.
    """
    cores = len(os.sched_getaffinity(0))
    return max(1, cores // max(1, max_concurrency))


@dataclass(frozen=True)
class Rendered:
    """One encoded variant."""

    data: bytes
    content_type: str
    width: int
    height: int


def _load(source_path: str, preset: VariantPreset) -> pyvips.Image:
    """The upright, resized image (lazy: the pixels are decoded when it is encoded)."""
    if preset.fit == "cover":
        return pyvips.Image.thumbnail(
            source_path, preset.width, height=preset.height, crop="centre", fail_on=FAIL_ON
        )
    if preset.fit == "inside":
        width, height = preset.width, preset.height
    else:  # "original": the upright size, its long side capped at max_side
        width = height = preset.max_side
    return pyvips.Image.thumbnail(source_path, width, height=height, size="down", fail_on=FAIL_ON)


def _to_srgb(image: pyvips.Image) -> pyvips.Image:
    """sRGB by the embedded colour profile, if the image has one.

    `thumbnail` already gives 8-bit sRGB (or 8-bit greyscale, which WebP stores as RGB) for
    everything else: CMYK through libvips' built-in CMYK profile, 16-bit, Lab, scRGB. It
    keeps an embedded RGB profile (Display P3, Adobe RGB) as it is, though, and the profile
    goes with the metadata on save, so it is applied here, on the resized pixels.
    """
    if "icc-profile-data" in image.get_fields():
        return image.icc_transform("srgb", embedded=True, intent="relative")
    return image


def _encode(image: pyvips.Image, quality: int) -> bytes:
    data: bytes = image.webpsave_buffer(Q=quality, effort=WEBP_EFFORT, keep="none")
    return data


def _no_bigger(load: Callable[[], pyvips.Image], quality: int, limit: int) -> bytes:
    """WebP at `quality`, or at the highest lower quality that is no bigger than `limit`.

    The first encoding streams from the source (its pixels are never all in memory): an
    original much bigger than its WebP, the usual case, costs one decode and one encode.
    Only if that is too big is the image loaded again (`load`: a sequential source reads
    once) into memory, for a binary search between QUALITY_FLOOR and `quality` (size grows
    with quality, nearly monotonically; the search only keeps encodings it checked). If
    even the floor is bigger than `limit` (an original already compressed harder than
    that), the smallest encoding made is returned: a variant a little bigger than its
    original is still upright, sRGB and stripped, which the original is not, and going
    below the floor would show artefacts.
    """
    best = _encode(load(), quality)
    if len(best) <= limit:
        return best
    image = load().copy_memory()  # encoded several times: decode the source once more
    smallest = best
    low, high = QUALITY_FLOOR, quality - 1
    fitting: bytes | None = None
    while low <= high:
        middle = (low + high) // 2
        data = _encode(image, middle)
        if len(data) < len(smallest):
            smallest = data
        if len(data) <= limit:
            fitting, low = data, middle + 1
        else:
            high = middle - 1
    return fitting if fitting is not None else smallest


class _Pipeline:
    """The variant's lazy image: the one already built, then built anew for each call
    (libvips reads a sequential source once, so a second encode needs a second load)."""

    def __init__(self, first: pyvips.Image, source_path: str, preset: VariantPreset) -> None:
        self._next: pyvips.Image | None = first
        self._source_path = source_path
        self._preset = preset

    def __call__(self) -> pyvips.Image:
        image, self._next = self._next, None
        return image if image is not None else _to_srgb(_load(self._source_path, self._preset))


def _message(exc: pyvips.Error, source_path: str) -> str:
    """libvips' reason, without the file's path (it names a worker's scratch file)."""
    lines = f"{exc.message}\n{exc.detail or ''}".replace(source_path, "<image>").splitlines()
    reasons = list(dict.fromkeys(line.strip() for line in lines if line.strip()))
    return "; ".join(reasons) or "unreadable image"


def render_variant(source_path: str, preset: VariantPreset, *, source_size: int) -> Rendered:
    """The variant `preset` of the image at `source_path` (blocking). Raises InvalidImage.

    `source_size` is the original file's size in bytes: `fit="original"` stays no bigger
    (see `_no_bigger`).
    """
    try:
        image = _to_srgb(_load(source_path, preset))
        if preset.fit == "original":
            data = _no_bigger(_Pipeline(image, source_path, preset), preset.quality, source_size)
        else:
            data = _encode(image, preset.quality)
    except pyvips.Error as exc:  # not chained: libvips' own message names the path
        raise InvalidImage(_message(exc, source_path)) from None
    return Rendered(
        data=data,
        content_type=CONTENT_TYPES[preset.format],
        width=image.width,
        height=image.height,
    )


class ImageWorkers:
    """Renders variants in a pool of `max_concurrency` threads: at most that many at once.

    libvips releases the GIL while it decodes and encodes, so the threads run in parallel.
    The pool's size is the bound, not an asyncio.Semaphore around `asyncio.to_thread`: a
    render whose activity is cancelled goes on in its thread (a thread cannot be stopped),
    and a semaphore would give its slot to the next image meanwhile, one decode over the
    bound. A render still queued when cancelled never starts.
    """

    def __init__(self, max_concurrency: int) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        pyvips.concurrency_set(threads_per_image(max_concurrency))  # process-wide
        self._pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="imaging")

    async def render(
        self, source_path: str, preset: VariantPreset, *, source_size: int
    ) -> Rendered:
        """`render_variant` in the pool, once a thread is free. Raises InvalidImage."""
        call = partial(render_variant, source_path, preset, source_size=source_size)
        context = contextvars.copy_context()  # the job id the log lines carry, as to_thread
        return await asyncio.get_running_loop().run_in_executor(self._pool, context.run, call)
