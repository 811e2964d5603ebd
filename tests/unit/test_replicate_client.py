"""ReplicateClient against httpx.MockTransport: URLs, headers and the error hierarchy."""

import json

import httpx
import pytest

from core.jobs import PredictionStatus
from core.replicate import (
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ReplicateClient,
    parse_prediction,
)

PREDICTION = {
    "id": "abc",
    "status": "processing",
    "output": None,
    "logs": "Using seed: 1\n 25%|██▌       | 1/4\n 50%|█████     | 2/4",
    "error": None,
}


def make_client(handler) -> ReplicateClient:
    http = ReplicateClient.build_http("https://api.example.test/v1", "r8_token")
    http._transport = httpx.MockTransport(handler)
    return ReplicateClient(http)


async def test_create_uses_the_model_route_with_prefer_wait_and_webhook():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=PREDICTION)

    client = make_client(handler)
    prediction = await client.create_prediction(
        model="owner/name", input={"prompt": "x"}, webhook="https://hook", wait_seconds=2
    )
    request = seen[0]
    assert request.url.path == "/v1/models/owner/name/predictions"
    assert request.headers["Prefer"] == "wait=2"
    assert request.headers["Authorization"] == "Bearer r8_token"
    assert json.loads(request.content)["webhook"] == "https://hook"
    assert prediction.status is PredictionStatus.PROCESSING
    assert prediction.progress == 0.5


async def test_create_with_a_version_uses_the_predictions_route():
    version = "a" * 64
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=PREDICTION)

    await make_client(handler).create_prediction(model=f"owner/name:{version}", input={})
    assert seen[0].url.path == "/v1/predictions"
    assert json.loads(seen[0].content)["version"] == version


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(500, json={"detail": "boom"}), ProviderUnavailable),
        (httpx.Response(503, text="unavailable"), ProviderUnavailable),
        (httpx.Response(422, json={"detail": "input.width too big"}), ProviderRejected),
        (httpx.Response(404, json={"title": "not found"}), ProviderRejected),
        (httpx.Response(429, headers={"Retry-After": "7"}, json={}), ProviderRateLimited),
    ],
)
async def test_errors_are_classified(response, error):
    client = make_client(lambda _: response)
    with pytest.raises(error) as caught:
        await client.get_prediction("abc")
    if isinstance(caught.value, ProviderRateLimited):
        assert caught.value.retry_after == 7


async def test_transport_errors_are_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        await make_client(handler).get_prediction("abc")


async def test_files_on_another_host_get_no_token():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"png")

    client = make_client(handler)
    async with client.stream_file("https://delivery.example.test/out.png") as response:
        assert await response.aread() == b"png"
    async with client.stream_file("https://api.example.test/v1/files/x.png"):
        pass
    assert "Authorization" not in seen[0].headers
    assert seen[1].headers["Authorization"] == "Bearer r8_token"


def test_user_errors_are_recognised():
    nsfw = parse_prediction({"id": "a", "status": "failed", "error": "NSFW content detected."})
    oom = parse_prediction({"id": "b", "status": "failed", "error": "CUDA out of memory"})
    assert nsfw.user_error
    assert not oom.user_error


def test_a_single_output_string_becomes_a_list():
    prediction = parse_prediction({"id": "a", "status": "succeeded", "output": "https://x/1.png"})
    assert prediction.output == ["https://x/1.png"]
