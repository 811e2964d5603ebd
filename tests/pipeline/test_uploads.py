"""POST /api/v1/uploads against the running stack: what is accepted, stored and started, and
what is refused with nothing stored."""

from __future__ import annotations

import io
import time
import zipfile

from core.image_jobs import PROCESSABLE_TYPES
from core.keys import upload_key
from core.search_attributes import JOB_KIND
from tests.pipeline.conftest import read_row, started
from tests.pipeline.tenants import mint
from tests.pipeline.uploading import (
    BOUNDARY,
    FORM_TYPE,
    bomb_png,
    form_head,
    jpeg,
    object_bytes,
    owned,
    png,
    streamed_form,
    upload,
    upload_keys,
)


async def test_a_png_is_stored_recorded_and_started(
    api, sessions, storage, temporal, settings
) -> None:
    tenant = await mint(sessions)
    data = png()

    name = "../../etc/Holiday\x07 Photo.png"  # sent raw: httpx would percent-encode the BEL
    body = form_head(name) + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    response = await api.post(
        "/api/v1/uploads", content=body, headers={**FORM_TYPE, **tenant.headers}
    )

    assert response.status_code == 202, response.text
    document = response.json()
    job_id = document["id"]
    assert response.headers["location"] == f"/api/v1/status/{job_id}"
    assert document["kind"] == "process"
    assert document["status"] == "pending"
    assert (document["prompt"], document["model_name"]) == ("", "")
    assert document["variants"] == []
    assert document["variant_failures"] == []
    assert document["parameters"] == {
        "filename": "Holiday Photo.png",
        "content_type": "image/png",
        "file_size": len(data),
        "width": 64,
        "height": 48,
        "variants": [preset.name for preset in settings.variant_presets],
    }
    assert await object_bytes(storage, upload_key(job_id)) == data
    assert (await storage.stat(upload_key(job_id))).content_type == "image/png"
    row = await read_row(sessions, job_id)
    assert (row.kind, row.owner, row.prompt, row.model_name) == ("process", tenant.owner, "", "")
    described = await started(temporal, job_id)
    assert described.workflow_type == "ProcessImage"
    assert described.typed_search_attributes.get(JOB_KIND) == "process"
    status = await api.get(f"/api/v1/status/{job_id}", headers=tenant.headers)
    assert status.json()["kind"] == "process"


async def test_a_jpeg_with_chosen_variants(api, sessions, storage) -> None:
    tenant = await mint(sessions)
    data = jpeg()

    response = await upload(
        api,
        data,
        tenant=tenant,
        filename="c.jpg",
        content_type="application/octet-stream",
        variants=" preview,thumbnail ,preview",
    )

    assert response.status_code == 202, response.text
    parameters = response.json()["parameters"]
    assert parameters["content_type"] == "image/jpeg"  # by its bytes, not the claimed type
    assert parameters["variants"] == ["preview", "thumbnail"]
    assert (parameters["width"], parameters["height"]) == (80, 60)
    assert await object_bytes(storage, upload_key(response.json()["id"])) == data


async def test_a_generate_job_carries_its_kind_too(api, temporal) -> None:
    response = await api.post("/api/v1/generate", json={"prompt": "a kind of fox"})

    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "generate"
    described = await started(temporal, response.json()["id"])
    assert described.typed_search_attributes.get(JOB_KIND) == "generate"


async def test_an_idempotency_key_replays_and_conflicts(api, sessions, settings) -> None:
    tenant = await mint(sessions)
    data = png(30, 30)
    first = await upload(api, data, tenant=tenant, key="upload-1")
    stored = await upload_keys(settings)

    again = await upload(api, data, tenant=tenant, key="upload-1", filename="other-name.png")
    other_file = await upload(api, png(31, 30), tenant=tenant, key="upload-1")
    other_variants = await upload(api, data, tenant=tenant, key="upload-1", variants="thumbnail")

    assert first.status_code == 202, first.text
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert other_file.status_code == 409
    assert "upload-1" in other_file.json()["detail"]
    assert other_variants.status_code == 409
    assert [job["id"] for job in await owned(api, tenant)] == [first.json()["id"]]
    assert await upload_keys(settings) == stored


async def test_a_body_over_the_byte_limit_is_413_with_nothing_stored(api, sessions, settings):
    tenant = await mint(sessions)
    before = await upload_keys(settings)
    piece = b"\x00" * 1_048_576
    chunks = [png()[:64], *[piece] * (settings.upload_max_bytes // len(piece) + 2)]

    response = await api.post(
        "/api/v1/uploads",
        content=streamed_form(chunks),
        headers={**FORM_TYPE, **tenant.headers},
    )

    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert "file" in detail
    assert str(settings.upload_max_bytes) in detail
    assert await owned(api, tenant) == []
    assert await upload_keys(settings) == before


async def test_what_is_not_an_image_is_415_whatever_it_claims(api, sessions, settings):
    tenant = await mint(sessions)
    before = await upload_keys(settings)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("x.png", png())

    text = await upload(api, b"hello, this is text\n", tenant=tenant, content_type="text/plain")
    zip_as_png = await upload(api, archive.getvalue(), tenant=tenant, filename="x.png")
    empty = await upload(api, b"", tenant=tenant)

    for response in (text, zip_as_png, empty):
        assert response.status_code == 415, response.text
        assert all(kind in response.json()["detail"] for kind in PROCESSABLE_TYPES)
    assert "text/plain" in text.json()["detail"]
    assert "no known image format" in zip_as_png.json()["detail"]
    assert await owned(api, tenant) == []
    assert await upload_keys(settings) == before


async def test_a_decompression_bomb_is_refused_fast_with_nothing_stored(api, sessions, settings):
    tenant = await mint(sessions)
    before = await upload_keys(settings)

    started = time.monotonic()
    response = await upload(api, bomb_png(), tenant=tenant)
    took = time.monotonic() - started

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "file"]
    assert "100000x100000" in error["msg"]
    assert str(settings.upload_max_pixels) in error["msg"]
    assert took < 2.0
    assert await owned(api, tenant) == []
    assert await upload_keys(settings) == before


async def test_an_unreadable_header_is_422_naming_file(api, sessions) -> None:
    tenant = await mint(sessions)

    response = await upload(api, b"\x89PNG\r\n\x1a\n" + b"\x13" * 200, tenant=tenant)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "file"]
    assert await owned(api, tenant) == []


async def test_bad_forms_are_422_naming_the_field(api, sessions) -> None:
    tenant = await mint(sessions)
    data = png()

    unknown = await upload(api, data, tenant=tenant, variants="thumbnail,poster")
    blank = await upload(api, data, tenant=tenant, variants=" , ")
    no_file = await api.post(
        "/api/v1/uploads", files={"variants": (None, "thumbnail")}, headers=tenant.headers
    )
    extra = await api.post(
        "/api/v1/uploads",
        files={"file": ("a.png", data), "caption": (None, "x")},
        headers=tenant.headers,
    )
    json_body = await api.post("/api/v1/uploads", json={"file": "x"}, headers=tenant.headers)

    for response, field in (
        (unknown, "variants"),
        (blank, "variants"),
        (no_file, "file"),
        (extra, "caption"),
        (json_body, "file"),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", field], response.text
    assert "poster" in unknown.json()["detail"][0]["msg"]
    assert await owned(api, tenant) == []
