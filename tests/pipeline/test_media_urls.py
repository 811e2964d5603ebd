"""Signed media URLs against the running service: a job document's url works without any
header; unsigned, expired, altered or moved ones are 403 (API.md, "GET /media/{key}")."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import httpx
import pytest

from core.config import get_settings
from core.keys import MEDIA_PREFIX
from core.media_urls import MediaSigner, Refusal
from tests.pipeline.conftest import submit, wait_for


@pytest.fixture(scope="module")
async def anon(settings) -> AsyncIterator[httpx.AsyncClient]:
    """No Authorization header at all, as an `<img src>` or a shared link."""
    async with httpx.AsyncClient(
        base_url=settings.public_base_url, timeout=30, follow_redirects=False
    ) as client:
        yield client


@pytest.fixture(scope="module")
async def jobs(api) -> list[dict[str, Any]]:
    """Two completed jobs, so that one's signature can be tried on the other's media."""
    submitted = [await submit(api, f"a signed fox {n}") for n in range(2)]
    return [(await wait_for(api, job["id"], {"completed"}))[0] for job in submitted]


def split(url: str) -> tuple[str, str, str]:
    """(path, exp, sig) of a signed media URL."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path, query["exp"][0], query["sig"][0]


def with_query(path: str, **query: str) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def stack_signer() -> MediaSigner:
    """The stack's own signer, from the settings the test process shares with it."""
    return MediaSigner.from_settings(get_settings())


def object_key(path: str) -> str:
    return MEDIA_PREFIX + unquote(path.removeprefix("/media/"))


def assert_forbidden(response: httpx.Response, refusal: Refusal) -> None:
    assert response.status_code == 403, response.text[:200]
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"detail": refusal.value}
    assert "www-authenticate" not in response.headers  # not a matter of API keys


async def test_the_documents_url_works_without_any_header(anon, api, jobs):
    job = jobs[0]
    output = job["outputs"][0]
    assert output["url"].startswith(get_settings().public_base_url)

    response = await anon.get(output["url"])

    assert "authorization" not in response.request.headers
    assert response.status_code == 200, response.text[:200]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == output["content_type"]
    assert hashlib.sha256(response.content).hexdigest() == output["sha256"]
    assert len(response.content) == output["file_size"]
    download = await api.get(f"/api/v1/download/{job['id']}")
    assert response.content == download.content


async def test_a_url_signed_in_the_test_process_is_the_stacks_own(anon, jobs):
    path, _, _ = split(jobs[0]["outputs"][0]["url"])
    response = await anon.get(stack_signer().url(object_key(path)))
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == jobs[0]["outputs"][0]["sha256"]


async def test_an_unsigned_url_is_403(anon, jobs):
    path, exp, sig = split(jobs[0]["outputs"][0]["url"])
    assert_forbidden(await anon.get(path), Refusal.UNSIGNED)
    assert_forbidden(await anon.get(with_query(path, exp=exp)), Refusal.UNSIGNED)
    assert_forbidden(await anon.get(with_query(path, sig=sig)), Refusal.UNSIGNED)
    # an API key is no substitute for a signature
    assert_forbidden(await anon.get(path, headers={"Authorization": "Bearer x"}), Refusal.UNSIGNED)


async def test_an_expired_url_is_403(anon, jobs):
    path, _, _ = split(jobs[0]["outputs"][0]["url"])
    signer = stack_signer()
    long_ago = time.time() - signer.ttl_seconds - 120
    expired = signer.url(object_key(path), now=long_ago)
    assert int(split(expired)[1]) < time.time()
    assert_forbidden(await anon.get(expired), Refusal.EXPIRED)


async def test_a_tampered_url_is_403(anon, jobs):
    path, exp, sig = split(jobs[0]["outputs"][0]["url"])
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert_forbidden(await anon.get(with_query(path, exp=exp, sig=flipped)), Refusal.TAMPERED)
    assert_forbidden(await anon.get(with_query(path, exp=exp, sig=sig[:-2])), Refusal.TAMPERED)
    later = str(int(exp) + 86_400)  # the same signature, kept alive a day longer
    assert_forbidden(await anon.get(with_query(path, exp=later, sig=sig)), Refusal.TAMPERED)
    assert_forbidden(await anon.get(with_query(path, exp="abc", sig=sig)), Refusal.TAMPERED)


async def test_a_signature_does_not_move_to_another_object(anon, jobs):
    path, exp, sig = split(jobs[0]["outputs"][0]["url"])
    other_path, _, _ = split(jobs[1]["outputs"][0]["url"])
    assert other_path != path
    assert_forbidden(await anon.get(with_query(other_path, exp=exp, sig=sig)), Refusal.TAMPERED)
    # nor to a key outside the media prefix
    assert_forbidden(
        await anon.get(
            with_query(f"/media/..%2Fmetadata%2F{jobs[0]['id']}.json", exp=exp, sig=sig)
        ),
        Refusal.TAMPERED,
    )


async def test_a_url_signed_with_an_unknown_secret_is_403(anon, jobs):
    path, _, _ = split(jobs[0]["outputs"][0]["url"])
    base = get_settings().public_base_url
    stranger = MediaSigner(["not-the-stacks-secret"], ttl_seconds=600, base_url=base)
    assert_forbidden(await anon.get(stranger.url(object_key(path))), Refusal.TAMPERED)


async def test_a_fresh_url_comes_with_every_read_of_the_document(api, jobs):
    job = jobs[0]
    await asyncio.sleep(1.1)  # the expiry is in whole seconds
    again = (await api.get(f"/api/v1/status/{job['id']}")).json()
    assert int(split(again["outputs"][0]["url"])[1]) > int(split(job["outputs"][0]["url"])[1])
