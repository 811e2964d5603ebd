"""Output files rendered on demand: cheap Pillow pictures that visibly depend on the input.

Nothing is kept per prediction: a download re-renders from the stored input and seed, and the
same input and seed always give the same bytes. The background gradient comes from a hash of
the prompt alone (so prompts look different at a glance), shapes from an RNG seeded by the seed,
the output index and the other parameters, and the prompt is written on the picture.
"""

from __future__ import annotations

import hashlib
import io
import random
import textwrap
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import orjson
from PIL import Image, ImageDraw, ImageFont

from devstack.fake_replicate.validation import ASPECT_RATIO

CONTENT_TYPES = {
    "webp": "image/webp",
    "png": "image/png",
    "jpg": "image/jpeg",
    "bin": "application/octet-stream",
}
BASE_SIZE = 1024
IGNORED_KEYS = frozenset({"fake", "fake_error", "seed"})
_PIL_FORMATS = {"webp": "WEBP", "png": "PNG", "jpg": "JPEG"}
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "webp": {"quality": 80, "method": 0},
    "png": {"compress_level": 1},
    "jpg": {"quality": 85},
}
_PATTERN = bytes((i * 7 + 3) % 256 for i in range(65_536))


def output_size(data: dict[str, Any]) -> tuple[int, int]:
    """Explicit width/height win; otherwise `aspect_ratio` (default 1:1) over ~1024x1024 pixels."""
    width, height = data.get("width"), data.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return width, height
    match = ASPECT_RATIO.match(str(data.get("aspect_ratio") or "1:1"))
    ratio = int(match.group(1)) / int(match.group(2)) if match else 1.0
    derived_w = _round16(BASE_SIZE * ratio**0.5)
    derived_h = _round16(BASE_SIZE / ratio**0.5)
    if isinstance(width, int):
        return width, _round16(width / ratio)
    if isinstance(height, int):
        return _round16(height * ratio), height
    return derived_w, derived_h


def _round16(value: float) -> int:
    return max(16, round(value / 16) * 16)


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _colours(prompt: str) -> list[tuple[int, int, int]]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return [(digest[i], digest[i + 1], digest[i + 2]) for i in range(0, 12, 3)]


def render_image(data: dict[str, Any], seed: int, index: int, fmt: str) -> bytes:
    """Encode output `index` of a prediction with this input and seed as `fmt` (webp/png/jpg)."""
    width, height = output_size(data)
    prompt = str(data.get("prompt", ""))
    params = orjson.dumps(
        {k: v for k, v in data.items() if k not in IGNORED_KEYS}, option=orjson.OPT_SORT_KEYS
    )
    rng = random.Random(hashlib.sha256(b"%d:%d:" % (seed, index) + params).digest())

    corners = Image.new("RGB", (2, 2))
    corners.putdata(_colours(prompt))
    image = corners.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    for _ in range(rng.randint(3, 7)):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randint(max(2, short // 20), max(3, short // 5))
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        else:
            draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=fill)

    size = max(10, short // 24)
    lines = textwrap.wrap(prompt, width=max(8, int(width / (size * 0.55))))[:4]
    lines.append(f"seed {seed} #{index}")
    band = (len(lines) * (size + 4)) + 8
    draw.rectangle((0, height - band, width, height), fill=(0, 0, 0))
    draw.multiline_text((6, height - band + 4), "\n".join(lines), font=_font(size), spacing=4)

    buffer = io.BytesIO()
    image.save(buffer, _PIL_FORMATS[fmt], **_SAVE_OPTIONS[fmt])
    return buffer.getvalue()


def pattern_chunks(total: int, chunk_size: int = 65_536) -> Iterator[bytes]:
    """The `output_bytes` stream: byte i is `(i * 7 + 3) % 256`, produced chunk by chunk."""
    sent = 0
    view = memoryview(_PATTERN)
    while sent < total:
        n = min(chunk_size, total - sent, len(_PATTERN) - sent % len(_PATTERN))
        start = sent % len(_PATTERN)
        yield bytes(view[start : start + n])
        sent += n
