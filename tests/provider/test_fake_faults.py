"""The fake's faults: scripted per prediction (create, get, download) and random by setting."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest
from PIL import Image

from tests.provider.conftest import TOKEN, FakeServer
from tests.provider.fake_calls import (
    FLUX,
    PROBLEM,
    create,
    created,
    download,
    eventually,
)


def test_fail_create_twice_then_created(api: httpx.Client, fake: FakeServer) -> None:
    before = fake.state()["faults"].get("create:error", 0)
    data = {"prompt": "flaky create", "fake": {"fail_create": 2, "create_status": 500}}
    statuses = [create(api, data, wait=None).status_code for _ in range(3)]

    assert statuses == [500, 500, 201]
    assert fake.state()["faults"]["create:error"] == before + 2
    # Another input is another key: its attempts start from one.
    assert create(api, {**data, "prompt": "another"}, wait=None).status_code == 500


def test_rate_limited_create_says_when_to_retry(api: httpx.Client) -> None:
    data = {"prompt": "throttled", "fake": {"rate_limit_create": 1, "retry_after": 2}}
    limited = create(api, data, wait=None)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.headers["content-type"] == PROBLEM
    assert create(api, data, wait=None).status_code == 201


def test_fail_get_then_ok(api: httpx.Client) -> None:
    prediction = created(api, {"prompt": "flaky get", "fake": {"fail_get": 1}}, wait=None)
    assert api.get(f"/predictions/{prediction['id']}").status_code == 503
    assert api.get(f"/predictions/{prediction['id']}").status_code == 200


def test_hung_create_times_out_then_the_retry_succeeds(api: httpx.Client, fake: FakeServer) -> None:
    data = {"prompt": "hung", "fake": {"hang_create": 1, "hang_seconds": 1.0}}
    before = fake.state()["creates"]["total"]
    with pytest.raises(httpx.ReadTimeout):
        api.post(FLUX, json={"input": data}, timeout=0.3)
    retry = api.post(FLUX, json={"input": data}, timeout=5)
    assert retry.status_code == 201
    # Like a slow real API, the request the client gave up on still created its prediction.
    assert eventually(lambda: fake.state()["creates"]["total"] == before + 2)


def test_truncated_download_is_short_then_whole(api: httpx.Client) -> None:
    prediction = created(
        api, {"prompt": "cut", "width": 256, "height": 256, "fake": {"truncate_download": 1}}
    )
    url = prediction["output"][0]
    received = bytearray()

    def read_all(response: httpx.Response) -> None:
        for chunk in response.iter_raw():
            received.extend(chunk)

    with httpx.stream("GET", url) as response:
        declared = int(response.headers["content-length"])
        with pytest.raises(httpx.RemoteProtocolError):
            read_all(response)
    assert 0 < len(received) < declared

    whole = download(url)
    assert len(whole.content) == declared
    Image.open(io.BytesIO(whole.content)).load()


def test_fail_download_then_ok(api: httpx.Client) -> None:
    prediction = created(
        api, {"prompt": "flaky file", "width": 64, "height": 64, "fake": {"fail_download": 1}}
    )
    assert httpx.get(prediction["output"][0]).status_code == 503
    assert download(prediction["output"][0]).headers["content-type"] == "image/webp"


def test_output_bytes_streams_the_pattern(api: httpx.Client) -> None:
    size = 1_000_003
    prediction = created(api, {"prompt": "big", "fake": {"output_bytes": size}})
    response = download(prediction["output"][0])

    assert prediction["output"][0].endswith("/out-0.bin")
    assert response.headers["content-type"] == "application/octet-stream"
    assert int(response.headers["content-length"]) == size
    expected = bytes((i * 7 + 3) % 256 for i in range(size))
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(expected).digest()


def test_slow_download(api: httpx.Client) -> None:
    prediction = created(
        api, {"prompt": "trickle", "fake": {"output_bytes": 20_000, "slow_download": 40_000}}
    )
    started = time.monotonic()
    assert len(download(prediction["output"][0]).content) == 20_000
    assert time.monotonic() - started >= 0.45


def test_random_faults_follow_the_settings(
    make_fake: Callable[..., AbstractContextManager[FakeServer]],
) -> None:
    env = {
        "ERROR_RATE_5XX": "0.3",
        "RATE_LIMIT_RATE": "0.2",
        "RETRY_AFTER_SECONDS": "3",
        "SEED": "7",
    }
    with make_fake(**env) as server, server.client() as client:
        responses = [client.get("/models/black-forest-labs/flux-schnell") for _ in range(80)]
        faults = server.state()["faults"]
    statuses = [r.status_code for r in responses]
    errors = statuses.count(500) + statuses.count(503)
    assert set(statuses) <= {200, 429, 500, 503}
    assert statuses.count(200) > 0
    assert statuses.count(429) > 0
    assert errors > 0
    assert {r.headers["retry-after"] for r in responses if r.status_code == 429} == {"3"}
    assert faults["model:rate_limit"] == statuses.count(429)
    assert faults["model:error"] == errors


def test_reset_and_truncate_rate(
    make_fake: Callable[..., AbstractContextManager[FakeServer]],
) -> None:
    env = {"TRUNCATE_RATE": "1", "LATENCY_MIN": "0.05", "LATENCY_MAX": "0.05"}
    with make_fake(**env) as server, server.client() as client:
        prediction = created(client, {"prompt": "always cut", "width": 64, "height": 64})
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(prediction["output"][0])
        assert server.state()["faults"]["download:truncate"] == 1
        assert httpx.post(f"{server.base_url}/_fake/reset").status_code == 200
        state = server.state()
        assert state["creates"]["total"] == 0
        assert state["predictions"]["total"] == 0
        assert client.get(f"/predictions/{prediction['id']}").status_code == 404


async def test_a_thousand_predictions_in_flight(
    make_fake: Callable[..., AbstractContextManager[FakeServer]],
) -> None:
    """The server keeps up; the client's concurrency stays modest because httpx's own pool
    costs more CPU per request as more requests wait on it (see the provider notes)."""
    count, concurrency = 1000, 10
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    with make_fake(LATENCY_MIN="2.0", LATENCY_MAX="3.0") as server:
        async with httpx.AsyncClient(
            base_url=server.api_url, headers=headers, limits=limits, timeout=30
        ) as client:

            async def one(i: int) -> int:
                async with gate:
                    response = await client.post(FLUX, json={"input": {"prompt": f"load {i}"}})
                    return response.status_code

            started = time.monotonic()
            statuses = await asyncio.gather(*(one(i) for i in range(count)))
            rate = count / (time.monotonic() - started)
            in_flight = (await client.get(f"{server.base_url}/_fake/state")).json()["predictions"]
            # The last create just returned and every latency is at least 2 s.
            await asyncio.sleep(3.1)
            done = (await client.get(f"{server.base_url}/_fake/state")).json()

    assert statuses == [201] * count
    assert rate > 50, f"only {rate:.0f} creates/s"
    assert in_flight["total"] == count
    assert in_flight.get("starting", 0) + in_flight.get("processing", 0) > 0
    assert done["predictions"] == {"total": count, "succeeded": count}
    assert done["creates"] == {"total": count, "models": count}
