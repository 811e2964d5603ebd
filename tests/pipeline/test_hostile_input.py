"""Hostile input gets a clear 4xx with a JSON `detail`, and changes nothing."""

from __future__ import annotations

import json

import pytest

from tests.pipeline.conftest import submit, wait_for

GENERATE = "/api/v1/generate"


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


async def count_jobs(api) -> int:
    return int((await api.get("/api/v1/jobs", params={"limit": 1})).json()["total"])


@pytest.mark.parametrize(
    ("content", "content_type", "expected"),
    [
        (b"", "application/json", 422),
        (b"\xff\xfe\x00garbage", "application/json", 422),
        (b'{"prompt": "x"}', "text/plain", 422),
        (b"not json", "application/json", 422),
        (b'{"prompt": "x", "parameters": "not json"}', "application/json", 422),
        (b'{"prompt": "x", "parameters": [1, 2]}', "application/json", 422),
        (('{"prompt": "x", "parameters": ' + nested(1000) + "}").encode(), "application/json", 400),
        (json.dumps({"prompt": "x", "parameters": nested(1000)}).encode(), "application/json", 422),
        (json.dumps({"prompt": "x" * 2001}).encode(), "application/json", 422),
        (b'{"prompt": "x\\u0000y"}', "application/json", 422),
        (b'{"prompt": "x\\ud800"}', "application/json", 422),
        (b'{"prompt": "x", "parameters": {"k": "\\u0000"}}', "application/json", 422),
    ],
)
async def test_malformed_bodies(api, content, content_type, expected):
    before = await count_jobs(api)
    response = await api.post(GENERATE, content=content, headers={"content-type": content_type})
    assert response.status_code == expected, response.text
    assert "detail" in response.json()
    assert await count_jobs(api) == before


@pytest.mark.parametrize(
    "parameters",
    [
        {"width": -1},
        {"width": 10**12},
        {"height": 0},
        {"height": 10**12},
        {"num_outputs": 0},
        {"num_outputs": 10**6},
        {"num_outputs": -3},
    ],
)
async def test_out_of_range_parameters(api, parameters):
    response = await api.post(GENERATE, json={"prompt": "x", "parameters": parameters})
    assert response.status_code == 422
    assert f"parameters.{next(iter(parameters))}" in response.text


async def test_a_1mb_body_is_413(api):
    body = json.dumps({"prompt": "x", "parameters": {"pad": "y" * 1_048_576}}).encode()
    response = await api.post(GENERATE, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "detail" in response.json()


async def test_an_unknown_model_fails_the_job_without_retries(api):
    job = await submit(api, "x", model_name="fake/unknown")
    document, _ = await wait_for(api, job["id"], {"failed", "completed"})
    assert document["status"] == "failed"
    assert document["error"]["type"] == "ProviderRejected"
    assert "404" in document["error"]["message"]
    assert document["retry_count"] == 0


@pytest.mark.parametrize(
    "path", ["/api/v1/status/123", "/api/v1/jobs/x/metadata", "/api/v1/download/%00"]
)
async def test_job_ids_that_are_not_uuids(api, path):
    response = await api.get(path)
    assert response.status_code in {404, 422}
    assert "detail" in response.json()


async def test_delete_of_a_non_uuid(api):
    response = await api.delete("/api/v1/jobs/not-a-uuid")
    assert response.status_code == 422
