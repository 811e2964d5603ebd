"""ReplicateClient against httpx.MockTransport: URLs, headers and the error hierarchy."""

import json

import httpx
import pytest

from core.jobs import PredictionStatus
from core.predictions import parse_prediction
from core.replicate import (
    OutputUnavailable,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ReplicateClient,
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

    await make_client(handler).create_prediction(
        model=f"owner/name:{version}", input={}, webhook="https://hook"
    )
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


SIGNED = "https://delivery.example.test/pbxt/out-0.png?X-Amz-Signature=s3cret"


def streamed(status: int, body: bytes = b"", **headers: str) -> httpx.Response:
    """A response whose body arrives as a stream, as from a real server: not read yet."""

    async def chunks():
        yield body

    return httpx.Response(status, headers=headers, content=chunks())


async def open_output(client: ReplicateClient, url: str = SIGNED) -> None:
    async with client.stream_file(url) as response:
        await response.aread()


@pytest.mark.parametrize("status", [403, 404, 410])
async def test_an_output_that_is_gone_is_unavailable_naming_host_and_status(status):
    client = make_client(lambda _: streamed(status, b'{"detail": "expired"}'))

    with pytest.raises(OutputUnavailable) as caught:
        await open_output(client)

    message = str(caught.value)
    assert caught.value.status_code == status
    assert "delivery.example.test" in message
    assert str(status) in message
    assert "s3cret" not in message
    assert "/pbxt/" not in message


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (streamed(500, b'{"detail": "boom"}'), ProviderUnavailable),
        (streamed(503, b"upstream down"), ProviderUnavailable),
        (streamed(429, b"{}", **{"Retry-After": "7"}), ProviderRateLimited),
    ],
)
async def test_an_output_host_outage_is_retryable_with_its_reason(response, error):
    client = make_client(lambda _: response)

    with pytest.raises(error) as caught:
        await open_output(client)

    assert not isinstance(caught.value, ProviderRejected)
    assert "ResponseNotRead" not in str(caught.value)
    assert str(response.status_code) in str(caught.value)


async def test_an_output_error_body_is_read_only_in_part():
    sent: list[int] = []

    async def endless():
        for _ in range(10_000):
            sent.append(1)
            yield b"x" * 1024

    client = make_client(lambda _: httpx.Response(500, content=endless()))

    with pytest.raises(ProviderUnavailable):
        await open_output(client)

    assert len(sent) <= 5  # about 4 KiB of a 10 MiB body


async def test_an_output_redirect_is_not_followed_nor_stored():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        location = "https://elsewhere.example.test/x.png?token=s3cret"
        return streamed(302, b"<html>moved</html>", Location=location)

    with pytest.raises(OutputUnavailable, match="redirects are not followed") as caught:
        await open_output(make_client(handler))

    assert len(seen) == 1
    assert caught.value.status_code == 302
    assert "delivery.example.test" in str(caught.value)
    assert "s3cret" not in str(caught.value)


async def test_an_output_transport_error_is_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ProviderUnavailable, match="ReadTimeout"):
        await open_output(make_client(handler))


def test_user_errors_are_recognised():
    nsfw = parse_prediction({"id": "a", "status": "failed", "error": "NSFW content detected."})
    oom = parse_prediction({"id": "b", "status": "failed", "error": "CUDA out of memory"})
    assert nsfw.user_error
    assert not oom.user_error


def test_a_single_output_string_becomes_a_list():
    prediction = parse_prediction({"id": "a", "status": "succeeded", "output": "https://x/1.png"})
    assert prediction.output == ["https://x/1.png"]
