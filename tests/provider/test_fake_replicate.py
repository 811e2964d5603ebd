"""The fake's own behaviour over plain HTTP: waiting, rendering, validation, faults, webhooks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import orjson
import pytest
from PIL import Image
from replicate.webhook import Webhooks, WebhookSigningSecret

from tests.provider.conftest import TOKEN, FakeServer, WebhookReceiver

FLUX = "/models/black-forest-labs/flux-schnell/predictions"
PROBLEM = "application/problem+json"


def create(
    api: httpx.Client, data: dict[str, Any], *, wait: str | None = "wait", **body: Any
) -> httpx.Response:
    headers = {"Prefer": wait} if wait else {}
    return api.post(FLUX, json={"input": data, **body}, headers=headers)


def created(api: httpx.Client, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = create(api, data, **kwargs)
    assert response.status_code == 201, response.text
    prediction: dict[str, Any] = response.json()
    return prediction


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `check` until it holds or `timeout` passes (the box may be busy)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def download(url: str) -> httpx.Response:
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    return response


def test_prefer_wait_returns_the_finished_prediction(api: httpx.Client) -> None:
    started = time.monotonic()
    prediction = created(
        api, {"prompt": "quick", "width": 64, "height": 64, "fake": {"latency": 0.3}}
    )
    elapsed = time.monotonic() - started

    assert prediction["status"] == "succeeded"
    assert 0.25 < elapsed < 3.0
    assert len(prediction["output"]) == 1
    assert prediction["metrics"]["image_count"] == 1
    assert prediction["started_at"] < prediction["completed_at"]


def test_prefer_wait_runs_out_while_processing(api: httpx.Client) -> None:
    started = time.monotonic()
    prediction = created(api, {"prompt": "slow", "fake": {"latency": 5}}, wait="wait=1")
    elapsed = time.monotonic() - started

    assert prediction["status"] in ("starting", "processing")
    assert prediction["output"] is None
    assert prediction["completed_at"] is None
    assert 0.9 < elapsed < 4.0


def test_status_and_logs_follow_the_clock(api: httpx.Client) -> None:
    prediction = created(
        api,
        {"prompt": "clock", "seed": 42, "num_inference_steps": 10, "fake": {"latency": 4}},
        wait=None,
    )
    assert prediction["status"] == "starting"
    assert prediction["logs"] == ""
    time.sleep(1.5)
    midway = api.get(f"/predictions/{prediction['id']}").json()
    assert midway["status"] == "processing"
    assert midway["logs"].startswith("Using seed: 42\n")
    assert "| 0/10 [" in midway["logs"]
    assert "| 10/10 [" not in midway["logs"]
    assert midway["started_at"] is not None


def test_same_seed_and_prompt_give_the_same_bytes(api: httpx.Client) -> None:
    base = {"prompt": "a green teapot", "seed": 42, "width": 128, "height": 128}
    first = download(created(api, base)["output"][0]).content
    second = download(created(api, base)["output"][0]).content
    other_prompt = download(created(api, {**base, "prompt": "a blue teapot"})["output"][0]).content
    other_seed = download(created(api, {**base, "seed": 43})["output"][0]).content

    assert first == second
    assert first != other_prompt
    assert first != other_seed


@pytest.mark.parametrize(
    ("data", "size", "pil_format", "content_type"),
    [
        ({"width": 320, "height": 192, "output_format": "png"}, (320, 192), "PNG", "image/png"),
        ({"width": 256, "height": 256, "output_format": "jpg"}, (256, 256), "JPEG", "image/jpeg"),
        ({"width": 384, "height": 128}, (384, 128), "WEBP", "image/webp"),
        ({"aspect_ratio": "9:16", "output_format": "jpg"}, (768, 1360), "JPEG", "image/jpeg"),
    ],
)
def test_requested_size_and_format(
    api: httpx.Client,
    data: dict[str, Any],
    size: tuple[int, int],
    pil_format: str,
    content_type: str,
) -> None:
    prediction = created(api, {"prompt": "sized", **data})
    response = download(prediction["output"][0])

    assert response.headers["content-type"] == content_type
    assert int(response.headers["content-length"]) == len(response.content)
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size) == (pil_format, size)


def test_num_outputs_are_distinct_files(api: httpx.Client) -> None:
    prediction = created(api, {"prompt": "three", "num_outputs": 3, "width": 64, "height": 64})
    urls = prediction["output"]
    assert [url.rsplit("/", 1)[1] for url in urls] == ["out-0.webp", "out-1.webp", "out-2.webp"]
    assert len({download(url).content for url in urls}) == 3
    missing = httpx.get(urls[0].replace("out-0", "out-3"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM


def test_invalid_input_is_a_422_naming_the_fields(api: httpx.Client) -> None:
    response = create(api, {"width": 4000, "num_outputs": 0, "output_format": "gif", "seed": 1.5})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422
    assert problem["title"]
    assert problem["detail"]
    fields = {f["field"]: f["type"] for f in problem["invalid_fields"]}
    assert fields == {
        "input.prompt": "required",
        "input.width": "number_lte",
        "input.num_outputs": "number_gte",
        "input.output_format": "enum",
        "input.seed": "invalid_type",
    }
    typo = create(api, {"prompt": "x", "fake": {"fail_craete": 1}})
    assert typo.status_code == 422
    assert typo.json()["invalid_fields"][0]["field"] == "input.fake.fail_craete"


def test_missing_token_is_a_401(fake: FakeServer) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        with fake.client(headers=headers) as anonymous:
            response = anonymous.post(FLUX, json={"input": {"prompt": "x"}})
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 401


def test_unknown_things(api: httpx.Client) -> None:
    assert api.get("/predictions/doesnotexist").status_code == 404
    assert (
        api.post("/models/fake/unknown/predictions", json={"input": {"prompt": "x"}}).status_code
        == 404
    )
    assert (
        api.post("/predictions", json={"version": "f" * 64, "input": {"prompt": "x"}}).status_code
        == 422
    )
    assert api.get("/predictions", params={"cursor": "garbage"}).status_code == 400


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


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {"prompt": "a [nsfw] scene"},
            "NSFW content detected. Try running it again, or try a different prompt.",
        ),
        ({"prompt": "x", "fake_error": "boom"}, "boom"),
        (
            {"prompt": "x", "fake": {"outcome": "failed", "error": "CUDA out of memory"}},
            "CUDA out of memory",
        ),
    ],
)
def test_predictions_that_fail(api: httpx.Client, data: dict[str, Any], error: str) -> None:
    prediction = created(api, data)
    assert prediction["status"] == "failed"
    assert prediction["error"] == error
    assert prediction["output"] is None


def test_cancel_is_final_and_terminal_predictions_ignore_it(api: httpx.Client) -> None:
    slow = created(api, {"prompt": "to cancel", "fake": {"latency": 30}}, wait=None)
    canceled = api.post(f"/predictions/{slow['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    assert canceled["completed_at"] is not None

    done = created(api, {"prompt": "done", "width": 64, "height": 64})
    unchanged = api.post(f"/predictions/{done['id']}/cancel").json()
    assert unchanged == done
    assert unchanged["status"] == "succeeded"


def _verify(secret: str, received: Any) -> None:
    """Check the signature by hand, then with the replicate client's own validator."""
    headers, body = received.headers, received.body
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 30
    Webhooks.validate(
        headers=headers, body=body.decode(), secret=WebhookSigningSecret(key=secret), tolerance=30
    )


def test_webhooks_are_signed_and_follow_the_prediction(
    api: httpx.Client, receiver: WebhookReceiver
) -> None:
    secret = api.get("/webhooks/default/secret").json()["key"]
    prediction = created(
        api, {"prompt": "hooked", "width": 64, "height": 64}, wait=None, webhook=receiver.url
    )

    # All four events by default: start, logs (processing), output and completed (succeeded).
    requests = receiver.wait_for(lambda requests: len(requests) == 4)
    bodies = [orjson.loads(r.body) for r in requests]
    assert {b["id"] for b in bodies} == {prediction["id"]}
    statuses = sorted(b["status"] for b in bodies)
    assert statuses == ["processing", "starting", "succeeded", "succeeded"]
    final = next(b for b in bodies if b["status"] == "succeeded")
    assert len(final["output"]) == 1
    assert final["output"] == api.get(f"/predictions/{prediction['id']}").json()["output"]
    for received in requests:
        _verify(secret, received)
    with pytest.raises(ValueError, match="invalid"):
        Webhooks.validate(
            headers=requests[0].headers,
            body=requests[0].body.decode() + " ",
            secret=WebhookSigningSecret(key=secret),
        )


def test_webhook_filter_cancel_and_retries(
    api: httpx.Client, fake: FakeServer, receiver: WebhookReceiver
) -> None:
    receiver.fail_first = 1
    before = fake.state()["webhooks"]
    prediction = created(
        api,
        {"prompt": "filtered", "fake": {"latency": 30}},
        wait=None,
        webhook=receiver.url,
        webhook_events_filter=["completed"],
    )
    api.post(f"/predictions/{prediction['id']}/cancel")

    [only] = receiver.wait_for(lambda requests: len(requests) == 1)
    assert orjson.loads(only.body)["status"] == "canceled"
    after = fake.state()["webhooks"]
    assert after["retried"] == before["retried"] + 1
    assert after["sent"] == before["sent"] + 1


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
