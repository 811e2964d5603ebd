"""The variants an image is made into: named presets, set by `VARIANT_PRESETS` (JSON).

Every variant is turned upright by its EXIF orientation, converted to sRGB (by its colour
profile, if it has one), stripped of metadata, resized as its `fit` says and encoded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator


class VariantPreset(BaseModel):
    """How one variant is made.

    `fit`: `cover` fills width x height exactly, cropping what is over (centred); `inside`
    fits within width x height, never enlarging; `original` keeps the upright size, its long
    side capped at `max_side`, at a quality that leaves it no bigger than the original file.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    fit: Literal["cover", "inside", "original"]
    width: int = Field(default=0, ge=0, le=16384)
    height: int = Field(default=0, ge=0, le=16384)
    max_side: int = Field(default=4096, ge=1, le=16384)
    format: Literal["webp"] = "webp"
    quality: int = Field(default=80, ge=1, le=100)

    @model_validator(mode="after")
    def _has_a_box(self) -> VariantPreset:
        if self.fit != "original" and not (self.width and self.height):
            raise ValueError(f"preset {self.name}: fit {self.fit} needs a width and a height")
        return self


DEFAULT_PRESETS: tuple[VariantPreset, ...] = (
    VariantPreset(name="thumbnail", fit="cover", width=256, height=256),
    VariantPreset(name="preview", fit="inside", width=1024, height=1024),
    # Uploads only: generated images get `core.image_jobs.GENERATED_PRESETS`.
    VariantPreset(name="compressed", fit="original", max_side=4096),
)
EXTENSIONS = {"webp": "webp"}
CONTENT_TYPES = {"webp": "image/webp"}


def preset_named(presets: list[VariantPreset], name: str) -> VariantPreset:
    """The preset of that name (KeyError if there is none)."""
    for preset in presets:
        if preset.name == name:
            return preset
    raise KeyError(name)
