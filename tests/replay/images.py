"""The images the upload scenarios send, made on the spot with Pillow."""

from __future__ import annotations

import io

from PIL import Image


def _jpeg(width: int, height: int) -> bytes:
    # Noise compresses badly, so decoding and encoding take a while (the cancel scenario).
    image = Image.effect_noise((width, height), 64).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def image_named(name: str) -> bytes:
    """`photo` (a 1200x800 JPEG), `large` (6000x4000), `truncated` (a JPEG cut in half)."""
    if name == "photo":
        return _jpeg(1200, 800)
    if name == "large":
        return _jpeg(6000, 4000)
    if name == "truncated":
        whole = _jpeg(1200, 800)
        return whole[: len(whole) // 2]
    raise KeyError(name)
