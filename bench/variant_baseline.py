"""Figure 8's baseline: the variant pipeline with Pillow, as seed 003 would have written it.

`exif_transpose`, `convert("RGB")`, `ImageOps.fit` / `thumbnail` (BICUBIC, reducing_gap 2),
WebP at the same quality and effort as libvips, the same quality search for `compressed`:
it decodes a source once for its three variants, and neither applies colour profiles nor
keeps alpha. Pillow is imported in the functions, so a libvips child never loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image as PillowImage

QUALITY_FLOOR = 30  # as activities.imaging's


def _pillow_webp(image: PillowImage, quality: int, effort: int) -> bytes:
    from io import BytesIO

    out = BytesIO()
    image.save(out, "WEBP", quality=quality, method=effort)
    return out.getvalue()


def _pillow_no_bigger(image: PillowImage, quality: int, limit: int, effort: int) -> bytes:
    """The same search as activities.imaging's `_no_bigger`, with Pillow's encoder."""
    low, high, fitting = QUALITY_FLOOR, quality - 1, None
    smallest = _pillow_webp(image, quality, effort)
    if len(smallest) <= limit:
        return smallest
    while low <= high:
        middle = (low + high) // 2
        data = _pillow_webp(image, middle, effort)
        smallest = min(smallest, data, key=len)
        if len(data) <= limit:
            fitting, low = data, middle + 1
        else:
            high = middle - 1
    return fitting if fitting is not None else smallest


def pillow_variants(path: Path, effort: int) -> list[int]:
    """The Pillow baseline: every preset of one source; the byte size of each variant."""
    from PIL import Image, ImageOps

    from core.variant_presets import DEFAULT_PRESETS

    limit = path.stat().st_size
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    sizes = []
    for preset in DEFAULT_PRESETS:
        if preset.fit == "cover":
            variant = ImageOps.fit(image, (preset.width, preset.height))
        else:
            box = (
                (preset.width, preset.height) if preset.fit == "inside" else (preset.max_side,) * 2
            )
            variant = image
            if image.width > box[0] or image.height > box[1]:
                variant = image.copy()
                variant.thumbnail(box)
        if preset.fit == "original":
            sizes.append(len(_pillow_no_bigger(variant, preset.quality, limit, effort)))
        else:
            sizes.append(len(_pillow_webp(variant, preset.quality, effort)))
    return sizes
