"""Per-owner quotas (`core.quotas`): the submit rate and the cap of active jobs, answered with
429 and `Retry-After`, held in PostgreSQL so that they hold across API processes too.

The stack's own limits are huge (devstack/isolated.py): each test mints keys of its own owner
with small per-key overrides.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from core.api_keys import create_key
from core.models import Job, OwnerQuota
from tests.pipeline.api_process import api_process
from tests.pipeline.conftest import wait_for

# A prediction the fake keeps running far longer than any test: its job stays active until
# the test cancels it.
SLOW = {"fake": {"latency": 120}}
GENEROUS_RATE = 10_000
ACTIVE = {"pending", "processing"}


@pytest.fixture(scope="module")
async def second_api(stack) -> AsyncIterator[str]:
    """The base URL of a second API process sharing the stack's database."""
    async with api_process(stack) as base_url:
        yield base_url


async def mint(sessions, **limits: Any) -> tuple[str, str]:
    """A key of a fresh owner with per-key `limits`; returns (owner, token)."""
    owner = f"quota-{uuid.uuid4().hex[:12]}"
    async with sessions() as session:
        new = await create_key(session, name=owner, **limits)
    return owner, new.token


def client(base_url: str, token: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60)


async def rows_of(sessions, owner: str) -> list[Job]:
    async with sessions() as session:
        return list(await session.scalars(sa.select(Job).where(col(Job.owner) == owner)))


async def post(
    http: httpx.AsyncClient, prompt: str, *, key: str | None = None, **fields: Any
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await http.post("/api/v1/generate", json={"prompt": prompt, **fields}, headers=headers)


def assert_429(response: httpx.Response, limit: int) -> int:
    """A quota refusal as API.md has it; returns its Retry-After."""
    assert response.status_code == 429, response.text
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert int(retry_after) > 0
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"].isdigit()
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert detail
    return int(retry_after)


async def cancel_all(http: httpx.AsyncClient, job_ids: Iterable[str]) -> None:
    """Cancel every job and wait until each is canceled, so nothing keeps running."""
    ids = list(job_ids)
    for response in await asyncio.gather(*(http.delete(f"/api/v1/jobs/{i}") for i in ids)):
        assert response.status_code == 202, response.text
    for job_id in ids:
        await wait_for(http, job_id, {"canceled"})


async def burst(
    clients: list[httpx.AsyncClient], count: int, tag: str, **fields: Any
) -> list[tuple[str, httpx.Response]]:
    """`count` concurrent submits, spread round-robin over `clients`, each with its own
    Idempotency-Key; returns (key, response) pairs."""
    keys = [f"{tag}-{i}-{uuid.uuid4().hex}" for i in range(count)]
    responses = await asyncio.gather(
        *(
            post(clients[i % len(clients)], f"{tag} {i}", key=key, **fields)
            for i, key in enumerate(keys)
        )
    )
    return list(zip(keys, responses, strict=True))


# -- the submit rate --------------------------------------------------------------------------


async def test_past_the_rate_is_429_with_retry_after_and_writes_nothing(settings, sessions):
    owner, token = await mint(sessions, rate_limit_per_minute=3)
    async with client(settings.public_base_url, token) as http:
        accepted = [await post(http, f"rated {i}") for i in range(3)]
        for response in accepted:
            assert response.status_code == 202, response.text
            assert response.headers["RateLimit-Limit"] == "3"
        remaining = [int(r.headers["RateLimit-Remaining"]) for r in accepted]
        assert remaining[0] > remaining[1] > remaining[2] == 0, remaining

        refused = await post(http, "one too many")

    retry_after = assert_429(refused, limit=3)
    # One token of 3/min comes back every 20 s: never later than that.
    assert retry_after <= 20
    assert refused.headers["RateLimit-Reset"] == str(retry_after)
    assert "rate" in refused.json()["detail"]
    rows = await rows_of(sessions, owner)
    assert sorted(str(row.id) for row in rows) == sorted(r.json()["id"] for r in accepted)


async def test_submits_racing_with_one_key_spend_one_token(settings, sessions):
    """Submits racing with one Idempotency-Key make one job: each that was admitted but lost
    the race to its row gives its token back. (A race nobody lost passes either way.)"""
    owner, token = await mint(sessions, rate_limit_per_minute=10)
    key = f"raced-{uuid.uuid4().hex}"
    async with client(settings.public_base_url, token) as http:
        raced = await asyncio.gather(*(post(http, "raced", key=key) for _ in range(6)))

    assert [r.status_code for r in raced] == [202] * 6, [r.text for r in raced]
    assert len({r.json()["id"] for r in raced}) == 1
    assert len(await rows_of(sessions, owner)) == 1
    async with sessions() as session:
        bucket = await session.get(OwnerQuota, owner)
    # A full bucket of 10 less one job's token, plus what refilled meanwhile (one per 6 s);
    # each admission that lost and kept its token would leave a whole token less.
    assert bucket is not None
    assert bucket.tokens >= 9, bucket.tokens


# -- the active-job cap -----------------------------------------------------------------------


async def test_fifty_concurrent_submits_past_the_cap_admit_exactly_five(settings, sessions):
    owner, token = await mint(sessions, rate_limit_per_minute=GENEROUS_RATE, max_active_jobs=5)
    async with client(settings.public_base_url, token) as http:
        results = await burst([http], 50, "capped", parameters=SLOW)
        accepted = [(key, r) for key, r in results if r.status_code == 202]
        refused = [r for _, r in results if r.status_code != 202]
        try:
            assert len(accepted) == 5, [r.status_code for _, r in results]
            assert len(refused) == 45
            for response in refused:
                assert_429(response, limit=5)
            rows = await rows_of(sessions, owner)
            assert sorted(str(row.id) for row in rows) == sorted(
                r.json()["id"] for _, r in accepted
            )
            assert {row.status for row in rows} <= ACTIVE

            # A replay of an accepted job takes no quota: still 202, the same job.
            key, first = accepted[0]
            replay = await post(http, first.json()["prompt"], key=key, parameters=SLOW)
            assert replay.status_code == 202, replay.text
            assert replay.json()["id"] == first.json()["id"]
            assert "RateLimit-Remaining" not in replay.headers
            # ... while a new one is still refused.
            assert_429(await post(http, "still capped", parameters=SLOW), limit=5)
            assert len(await rows_of(sessions, owner)) == 5
        finally:
            await cancel_all(http, (r.json()["id"] for _, r in accepted))

        # Once its jobs have ended, the owner is admitted again.
        again = await post(http, "after the cancels")
        assert again.status_code == 202, again.text
        await wait_for(http, again.json()["id"], {"completed"})


async def test_owners_are_independent(settings, sessions):
    _, token_a = await mint(sessions, rate_limit_per_minute=GENEROUS_RATE, max_active_jobs=2)
    owner_b, token_b = await mint(sessions, rate_limit_per_minute=GENEROUS_RATE, max_active_jobs=2)
    async with (
        client(settings.public_base_url, token_a) as a,
        client(settings.public_base_url, token_b) as b,
    ):
        held = [await post(a, f"a {i}", parameters=SLOW) for i in range(2)]
        try:
            assert [r.status_code for r in held] == [202, 202]
            assert_429(await post(a, "a over", parameters=SLOW), limit=2)

            first_b = await post(b, "b while a is capped")
            assert first_b.status_code == 202, first_b.text
            assert first_b.headers["RateLimit-Limit"] == str(GENEROUS_RATE)
            await wait_for(b, first_b.json()["id"], {"completed"})
            assert [row.id for row in await rows_of(sessions, owner_b)] == [
                uuid.UUID(first_b.json()["id"])
            ]
        finally:
            await cancel_all(a, (r.json()["id"] for r in held if r.status_code == 202))

    # And a rate-limited owner does not stop another either.
    _, token_c = await mint(sessions, rate_limit_per_minute=1)
    _, token_d = await mint(sessions, rate_limit_per_minute=1)
    async with (
        client(settings.public_base_url, token_c) as c,
        client(settings.public_base_url, token_d) as d,
    ):
        assert (await post(c, "c once")).status_code == 202
        assert_429(await post(c, "c twice"), limit=1)
        assert (await post(d, "d once")).status_code == 202


# -- across two API processes -----------------------------------------------------------------


async def test_the_cap_holds_across_two_api_processes(settings, sessions, second_api):
    owner, token = await mint(sessions, rate_limit_per_minute=GENEROUS_RATE, max_active_jobs=5)
    async with (
        client(settings.public_base_url, token) as first,
        client(second_api, token) as second,
    ):
        results = await burst([first, second], 50, "shared cap", parameters=SLOW)
        accepted = [r for _, r in results if r.status_code == 202]
        try:
            assert len(accepted) == 5, [r.status_code for _, r in results]
            for _, response in results:
                if response.status_code != 202:
                    assert_429(response, limit=5)
            rows = await rows_of(sessions, owner)
            assert sorted(str(row.id) for row in rows) == sorted(r.json()["id"] for r in accepted)
        finally:
            await cancel_all(first, (r.json()["id"] for r in accepted))


async def test_the_rate_holds_across_two_api_processes(settings, sessions, second_api):
    owner, token = await mint(sessions, rate_limit_per_minute=4)
    async with (
        client(settings.public_base_url, token) as first,
        client(second_api, token) as second,
    ):
        results = await burst([first, second], 12, "shared rate")
    accepted = [r for _, r in results if r.status_code == 202]
    assert len(accepted) == 4, [r.status_code for _, r in results]
    for _, response in results:
        if response.status_code != 202:
            assert_429(response, limit=4)
    rows = await rows_of(sessions, owner)
    assert sorted(str(row.id) for row in rows) == sorted(r.json()["id"] for r in accepted)
