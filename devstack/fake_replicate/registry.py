"""Which models the fake knows: any `owner/name` except the reserved `fake/unknown`.

A model's only version is `sha256("owner/name")` in hex, so version ids are stable across
restarts and computable by tests. A few real models carry their real defaults (flux-schnell
answers webp in 4 steps, SDXL png in 50); any other name gets flux-schnell's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

MISSING_MODELS = frozenset({"fake/unknown"})
VERSION_CREATED_AT = "2024-08-01T00:00:00.000000Z"
COG_VERSION = "0.9.13"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    owner: str
    name: str
    description: str = "A model served by the fake Replicate."
    default_format: str = "webp"
    default_steps: int = 4

    @property
    def ref(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def version_id(self) -> str:
        return version_id_of(self.ref)


def version_id_of(ref: str) -> str:
    """The deterministic latest (and only) version id of `owner/name`."""
    return hashlib.sha256(ref.encode()).hexdigest()


_KNOWN = [
    ModelInfo("black-forest-labs", "flux-schnell", "FLUX.1 [schnell], fast text-to-image."),
    ModelInfo("black-forest-labs", "flux-dev", "FLUX.1 [dev].", default_steps=28),
    ModelInfo("black-forest-labs", "flux-1.1-pro", "FLUX1.1 [pro].", default_steps=25),
    ModelInfo("stability-ai", "sdxl", "SDXL text-to-image.", "png", 50),
    ModelInfo("stability-ai", "stable-diffusion-3", "Stable Diffusion 3.", "webp", 28),
    ModelInfo("bytedance", "sdxl-lightning-4step", "SDXL-Lightning, 4 steps.", "png", 4),
]


class Registry:
    """Known models plus every model named so far, so their version ids resolve too."""

    def __init__(self) -> None:
        self._by_ref: dict[str, ModelInfo] = {m.ref: m for m in _KNOWN}
        self._by_version: dict[str, ModelInfo] = {m.version_id: m for m in _KNOWN}

    def model(self, owner: str, name: str) -> ModelInfo | None:
        ref = f"{owner}/{name}"
        if ref in MISSING_MODELS:
            return None
        info = self._by_ref.get(ref)
        if info is None:
            info = ModelInfo(owner, name)
            self._by_ref[ref] = info
            self._by_version[info.version_id] = info
        return info

    def by_version(self, version_id: str) -> ModelInfo | None:
        return self._by_version.get(version_id)


def version_json(info: ModelInfo) -> dict[str, Any]:
    """A version object as GET /v1/models/{owner}/{name}/versions/{id} returns it."""
    return {
        "id": info.version_id,
        "created_at": VERSION_CREATED_AT,
        "cog_version": COG_VERSION,
        "openapi_schema": _schema(info),
    }


def model_json(info: ModelInfo, run_count: int) -> dict[str, Any]:
    return {
        "url": f"https://replicate.com/{info.ref}",
        "owner": info.owner,
        "name": info.name,
        "description": info.description,
        "visibility": "public",
        "github_url": None,
        "paper_url": None,
        "license_url": None,
        "run_count": run_count,
        "cover_image_url": None,
        "default_example": None,
        "latest_version": version_json(info),
    }


def _schema(info: ModelInfo) -> dict[str, Any]:
    integer = {"type": "integer"}
    inputs = {
        "prompt": {"type": "string", "title": "Prompt"},
        "width": {**integer, "minimum": 64, "maximum": 2048},
        "height": {**integer, "minimum": 64, "maximum": 2048},
        "aspect_ratio": {"type": "string", "default": "1:1"},
        "num_outputs": {**integer, "minimum": 1, "maximum": 4, "default": 1},
        "num_inference_steps": {
            **integer,
            "minimum": 1,
            "maximum": 100,
            "default": info.default_steps,
        },
        "guidance_scale": {"type": "number", "minimum": 0, "maximum": 20},
        "seed": {**integer, "minimum": 0},
        "output_format": {"enum": ["webp", "jpg", "png"], "default": info.default_format},
    }
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "components": {
            "schemas": {
                "Input": {"type": "object", "required": ["prompt"], "properties": inputs},
                "Output": {"type": "array", "items": {"type": "string", "format": "uri"}},
            }
        },
    }
