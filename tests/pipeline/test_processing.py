"""Uploads and generated images processed into variants, end to end on the running stack."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pyvips
from PIL import Image

from core.keys import VARIANTS_PREFIX, metadata_key, variant_key
from core.storage import minio_client
from tests.pipeline.conftest import submit, wait_for
from tests.pipeline.uploading import upload

TERMINAL = {"completed", "failed", "canceled"}
EXIF_ORIENTATION = 0x0112


def sideways_jpeg(width: int = 600, height: int = 400, quality: int = 95) -> bytes:
    """A landscape JPEG stored as a portrait (rotated) with orientation 6 in its EXIF:
    upright it is `width` x `height`, with a red left half and a blue right half."""
    upright = Image.new("RGB", (width, height), (20, 40, 220))
    upright.paste((220, 30, 30), (0, 0, width // 2, height))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways writes
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


async def variant_image(api: httpx.AsyncClient, variant: dict[str, Any]) -> pyvips.Image:
    """The variant as served at its signed URL, with no key (an `<img src>`)."""
    async with httpx.AsyncClient() as anonymous:
        response = await anonymous.get(variant["url"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    assert response.content[:4] == b"RIFF"
    assert response.content[8:12] == b"WEBP"
    return pyvips.Image.new_from_buffer(response.content, "")


async def test_an_upload_is_made_upright_variants_served_at_signed_urls(api, storage, settings):
    response = await upload(
        api, sideways_jpeg(), filename="sideways.jpg", content_type="image/jpeg"
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    document, seen = await wait_for(api, job_id, TERMINAL)

    assert document["status"] == "completed", document
    assert seen[-1] == "completed"
    assert document["kind"] == "process"
    variants = {variant["name"]: variant for variant in document["variants"]}
    assert document["variant_failures"] == []
    sizes = {name: (v["width"], v["height"]) for name, v in variants.items()}
    assert sizes == {"thumbnail": (256, 256), "preview": (600, 400), "compressed": (600, 400)}
    for name, variant in variants.items():
        image = await variant_image(api, variant)
        assert (image.width, image.height) == sizes[name]
        red_left = image.extract_band(0).crop(0, 0, 8, 8).avg()
        blue_right = image.extract_band(2).crop(image.width - 8, 0, 8, 8).avg()
        assert (red_left > 150, blue_right > 150) == (True, True), (name, red_left, blue_right)
        assert not {"exif-data", "icc-profile-data", "xmp-data"} & set(image.get_fields()), name
        assert variant["content_type"] == "image/webp"
        assert variant["output"] == 0
    assert variants["compressed"]["file_size"] <= response.json()["parameters"]["file_size"]
    assert sorted(await _variant_keys(settings, job_id)) == sorted(
        variant_key(job_id, 0, name, "webp") for name in ("thumbnail", "preview", "compressed")
    )
    metadata = await storage.get_json(metadata_key(job_id))
    assert metadata["probe"]["orientation"] == 6
    assert (metadata["probe"]["width"], metadata["probe"]["height"]) == (400, 600)


async def test_a_truncated_jpeg_fails_its_job_as_an_invalid_image(api, settings):
    whole = sideways_jpeg()
    response = await upload(
        api, whole[: len(whole) // 2], filename="cut.jpg", content_type="image/jpeg"
    )
    assert response.status_code == 202, response.text  # its header reads: the body is cut
    job_id = response.json()["id"]

    document, _ = await wait_for(api, job_id, TERMINAL)

    assert document["status"] == "failed", document
    assert document["error"]["type"] == "InvalidImage"
    assert document["error"]["retryable"] is False
    assert document["retry_count"] == 0  # not retried
    assert await _variant_keys(settings, job_id) == []


async def test_a_generated_job_lists_a_thumbnail_and_a_preview_of_its_image(api, settings):
    job = await submit(api, "a lighthouse for variants", parameters={"width": 640, "height": 480})

    document, _ = await wait_for(api, job["id"], TERMINAL)

    assert document["status"] == "completed", document
    made = {variant["name"]: variant for variant in document["variants"]}
    assert set(made) == {"thumbnail", "preview"}
    assert (made["thumbnail"]["width"], made["thumbnail"]["height"]) == (256, 256)
    assert (made["preview"]["width"], made["preview"]["height"]) == (640, 480)  # never enlarged
    for variant in made.values():
        image = await variant_image(api, variant)
        assert (image.width, image.height) == (variant["width"], variant["height"])
    assert len(await _variant_keys(settings, job["id"])) == 2


async def test_an_upload_cancelled_while_processing_ends_canceled(api):
    noise = Image.effect_noise((6000, 4000), 64).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=90)
    response = await upload(api, out.getvalue(), filename="big.jpg", content_type="image/jpeg")
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    await wait_for(api, job_id, {"processing", *TERMINAL})

    cancelled = await api.delete(f"/api/v1/jobs/{job_id}")

    assert cancelled.status_code == 202, cancelled.text
    document, _ = await wait_for(api, job_id, TERMINAL)
    assert document["status"] == "canceled"


async def _variant_keys(settings: Any, job_id: str) -> list[str]:
    client = minio_client(settings)
    try:
        return [
            str(obj.object_name)
            async for obj in client.list_objects(
                settings.s3_bucket, prefix=f"{VARIANTS_PREFIX}{job_id}/", recursive=True
            )
        ]
    finally:
        await client.close_session()
