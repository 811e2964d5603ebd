"""Hostile provider outputs against the real stack and the fake (issue #16).

Each output the fake makes hostile (`fake.hostile`) fails its job at once, non-retryable,
with an error naming the output's host and the rule it broke; no request carried the API
token anywhere but the fake's API; what `/media` serves cannot run in a browser.
"""

from __future__ import annotations

import io
import time

import httpx
import pytest

from core.keys import MEDIA_PREFIX
from core.media_urls import MediaSigner
from tests.pipeline.conftest import submit, wait_for

# (fake.hostile, what the error names: the host, and the rule)
CASES = [
    ("relative", "", "not an absolute URL"),
    ("api", "127.0.0.1", "under the provider's API base URL"),
    ("metadata", "169.254.169.254", "OUTPUT_ALLOWED_HOSTS"),
    ("private", "10.0.0.1", "OUTPUT_ALLOWED_HOSTS"),
    ("redirect_private", "127.0.0.1:1", "OUTPUT_ALLOWED_HOSTS"),
    ("redirect_api", "127.0.0.1", "under the provider's API base URL"),
    ("html", "127.0.0.1", "content text/html"),
    ("svg", "127.0.0.1", "content image/svg+xml"),
    ("html_as_png", "127.0.0.1", "content text/html"),
]


async def token_leaks(provider: httpx.AsyncClient) -> int:
    state = (await provider.get("/_fake/state")).json()
    leaks: int = state["token_outside_api"]
    return leaks


@pytest.mark.parametrize(("hostile", "host", "rule"), CASES)
async def test_a_hostile_output_fails_the_job_at_once(api, provider, hostile, host, rule):
    started = time.monotonic()
    job = await submit(api, f"a hostile fox ({hostile})", parameters={"fake": {"hostile": hostile}})

    document, _ = await wait_for(api, job["id"], {"completed", "failed"}, within=30)

    assert document["status"] == "failed", document
    error = document["error"]
    assert error["type"] == "OutputRefused"
    assert error["retryable"] is False
    assert document["retry_count"] == 0
    assert host in error["message"], error["message"]
    assert rule in error["message"], error["message"]
    for part in ("/delivery/", "meta-data", "/x.png", "/v1/account"):
        assert part not in error["message"]  # the host, never the URL
    assert document["outputs"] == []
    assert time.monotonic() - started < 15
    assert await token_leaks(provider) == 0


async def test_an_allowed_redirect_is_followed(api, provider):
    job = await submit(api, "a redirected fox", parameters={"fake": {"hostile": "redirect_ok"}})

    document, _ = await wait_for(api, job["id"], {"completed", "failed"}, within=30)

    assert document["status"] == "completed", document.get("error")
    assert await token_leaks(provider) == 0


@pytest.fixture(scope="module")
async def anon(settings):
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
        yield client


async def test_media_headers_of_an_image(api, anon, provider):
    job = await submit(api, "a served fox", parameters={"output_format": "png"})
    document, _ = await wait_for(api, job["id"], {"completed"}, within=30)

    response = await anon.get(document["outputs"][0]["url"])

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert "content-disposition" not in response.headers
    assert response.content.startswith(b"\x89PNG")
    assert await token_leaks(provider) == 0


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("old-page.html", "text/html"), ("old-drawing.svg", "image/svg+xml")],
)
async def test_media_headers_of_an_object_stored_before_the_checks(
    anon, storage, settings, name, content_type
):
    body = b"<html><script>alert(document.domain)</script></html>"
    key = f"{MEDIA_PREFIX}{name}"

    class Source:
        async def aiter_bytes(self, chunk_size=None):
            yield body

    await storage.put_stream(key, Source(), length=len(body), content_type=content_type)
    try:
        response = await anon.get(MediaSigner.from_settings(settings).url(key))
    finally:
        await storage.delete([key])

    assert response.status_code == 200, response.text[:200]
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert response.headers["content-disposition"] == "attachment"
    assert io.BytesIO(response.content).read() == body
