"""Every endpoint of API.md and its error codes, against the running service."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.media_urls import MediaSigner
from core.search_attributes import JOB_STATUS
from tests.pipeline.conftest import submit, wait_for

SLOW = {"fake": {"latency": 30}}


async def test_generate_answers_202_with_location(api):
    response = await api.post("/api/v1/generate", json={"prompt": "a fox"})
    assert response.status_code == 202
    assert response.headers["location"] == f"/api/v1/status/{response.json()['id']}"
    assert response.json()["status"] == "pending"


async def test_parameters_as_a_json_string(api):
    job = await submit(api, parameters='{"width": 256, "height": 256}')
    assert job["parameters"] == {"width": 256, "height": 256}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": "x", "parameters": [1]}, "parameters"),
        ({"prompt": "x", "parameters": {"width": 10_000}}, "parameters.width"),
        ({"prompt": "x", "model_name": "nope"}, "model_name"),
    ],
)
async def test_invalid_bodies_are_422_naming_the_field(api, body, field):
    response = await api.post("/api/v1/generate", json=body)
    assert response.status_code == 422
    assert field in str(response.json()["detail"])


async def test_a_body_over_the_cap_is_413(api, settings):
    response = await api.post(
        "/api/v1/generate",
        content=b'{"prompt": "' + b"x" * settings.max_body_bytes + b'"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "detail" in response.json()


async def test_idempotency_key_replays_and_conflicts(api):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.post("/api/v1/generate", json={"prompt": "once"}, headers=key)
    again = await api.post("/api/v1/generate", json={"prompt": "once"}, headers=key)
    other = await api.post("/api/v1/generate", json={"prompt": "twice"}, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert other.status_code == 409


async def test_unknown_and_malformed_job_ids(api):
    unknown = uuid.uuid4()
    for path in (
        f"/api/v1/status/{unknown}",
        f"/api/v1/download/{unknown}",
        f"/api/v1/jobs/{unknown}/metadata",
    ):
        assert (await api.get(path)).status_code == 404, path
    assert (await api.delete(f"/api/v1/jobs/{unknown}")).status_code == 404
    malformed = await api.get("/api/v1/status/not-a-uuid")
    assert malformed.status_code == 422
    assert "job_id" in str(malformed.json()["detail"])


async def test_download_and_metadata_are_409_until_completed_then_cancel(api, provider, temporal):
    job = await submit(api, "a slow fox", parameters=SLOW)
    await wait_for(api, job["id"], {"processing"})
    assert (await api.get(f"/api/v1/download/{job['id']}")).status_code == 409
    assert (await api.get(f"/api/v1/jobs/{job['id']}/metadata")).status_code == 409

    canceled = await api.delete(f"/api/v1/jobs/{job['id']}")

    assert canceled.status_code == 202
    assert canceled.json()["status"] == "canceled"
    prediction = (
        await provider.get(
            f"/v1/predictions/{canceled.json()['external_job_id']}",
            headers={"Authorization": "Bearer t"},
        )
    ).json()
    assert prediction["status"] == "canceled"
    assert (await api.delete(f"/api/v1/jobs/{job['id']}")).status_code == 409
    assert (await api.get(f"/api/v1/status/{job['id']}")).json()["status"] == "canceled"
    description = await temporal.get_workflow_handle(job["id"]).describe()
    assert description.typed_search_attributes.get(JOB_STATUS) == "canceled"
    assert description.status.name == "CANCELED"


async def test_a_cancel_during_create_still_cancels_the_prediction(api, provider):
    job = await submit(
        api,
        "a hesitant fox",
        parameters={"fake": {"hang_create": 1, "hang_seconds": 2, "latency": 60}},
    )

    canceled = await api.delete(f"/api/v1/jobs/{job['id']}")

    assert canceled.status_code == 202
    document, _ = await wait_for(api, job["id"], {"canceled"})
    assert document["external_job_id"] is not None
    prediction = (await provider.get(f"/_fake/predictions/{document['external_job_id']}")).json()
    assert prediction["status"] == "canceled"


async def test_list_filters_and_pages(api):
    model = f"test-owner/list-{uuid.uuid4().hex[:8]}"
    ids = [(await submit(api, f"listed {i}", model_name=model))["id"] for i in range(3)]
    for job_id in ids:
        await wait_for(api, job_id, {"completed"})

    page = (await api.get("/api/v1/jobs", params={"model_name": model, "limit": 2})).json()
    rest = (
        await api.get("/api/v1/jobs", params={"model_name": model, "limit": 2, "offset": 2})
    ).json()
    by_alias = (
        await api.get("/api/v1/jobs", params={"model_name": model, "status_filter": "completed"})
    ).json()
    none = (await api.get("/api/v1/jobs", params={"model_name": model, "status": "failed"})).json()

    assert page["total"] == 3
    assert [j["id"] for j in page["items"] + rest["items"]] == ids[::-1]
    assert (page["limit"], page["offset"]) == (2, 0)
    assert by_alias["total"] == 3
    assert none["total"] == 0


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 10**9}, {"offset": -1}, {"status": "done"}]
)
async def test_list_rejects_bad_queries(api, params):
    response = await api.get("/api/v1/jobs", params=params)
    assert response.status_code == 422


async def test_media_serves_only_media_keys(api, settings):
    job = await submit(api, "a served fox", parameters={"output_format": "png"})
    done, _ = await wait_for(api, job["id"], {"completed"})
    ok = await api.get(done["outputs"][0]["url"])
    assert ok.status_code == 200
    assert ok.headers["content-type"] == "image/png"
    signer = MediaSigner.from_settings(settings)
    # Signed, so that only the key decides: a name outside the media prefix or unknown is 404.
    unknown = signer.url(f"media/{uuid.uuid4()}.png")
    assert (await api.get(unknown)).status_code == 404
    assert (await api.get(signer.url(f"media/sub/{job['id']}.png"))).status_code == 404
    assert (await api.get(signer.url(f"media/..{job['id']}.png"))).status_code == 404
    # Unsigned, nothing is served at all, whatever the path.
    for path in (f"/media/..%2Fmetadata%2F{job['id']}.json", f"/media/{job['id']}.png"):
        assert (await api.get(path)).status_code == 403, path


async def test_every_operation_documents_an_example(api):
    openapi = (await api.get("/openapi.json")).json()
    schemas = openapi["components"]["schemas"]

    def has_example(content: dict[str, Any]) -> bool:
        for media in content.values():
            schema = media.get("schema", {})
            referenced = schemas.get(schema.get("$ref", "").rsplit("/", 1)[-1], {})
            if "example" in media or "example" in referenced or schema.get("format") == "binary":
                return True
        return False

    missing = [
        f"{method.upper()} {path}"
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        if method != "head"
        and not any(
            has_example(answer.get("content", {}))
            for code, answer in operation["responses"].items()
            if code.startswith("2")
        )
    ]
    assert not missing


async def test_service_endpoints(api):
    index = (await api.get("/")).json()
    health = await api.get("/health")
    detailed = await api.get("/health/detailed")
    info = (await api.get("/info")).json()
    metrics = await api.get("/metrics")
    openapi = (await api.get("/openapi.json")).json()

    assert {"service", "version", "docs", "temporal_ui"} <= set(index)
    assert health.json()["status"] == "healthy"
    assert detailed.status_code == 200
    assert set(detailed.json()["dependencies"]) == {
        "database",
        "temporal",
        "object_storage",
        "provider",
    }
    assert all(d["status"] == "up" for d in detailed.json()["dependencies"].values())
    assert info["settings"]["s3_secret_key"] == "**********"
    assert "mediagen_jobs{" in metrics.text
    assert 'mediagen_http_requests_total{code="200",method="GET",route="/health"}' in metrics.text
    assert "/api/v1/generate" in openapi["paths"]
    assert (await api.get("/docs")).status_code == 200
