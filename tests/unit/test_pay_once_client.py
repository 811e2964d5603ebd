"""What the client does so that a create is paid once: strict only on `id` and `status`,
errors that prove nothing was sent, `Cancel-After`, and finding a lost create by webhook."""

import json
from datetime import UTC, datetime

import httpx
import pytest

from core.jobs import PredictionStatus
from core.predictions import NotAPrediction, parse_prediction
from core.replicate import ProviderUnavailable, ProviderUnreachable, ReplicateClient

HOOK = "https://api.example.test/api/v1/webhooks/replicate/job-1?attempt=2"
PROMPT = "a lighthouse at dusk"


def make_client(handler) -> ReplicateClient:
    http = ReplicateClient.build_http("https://api.example.test/v1", "r8_token")
    http._transport = httpx.MockTransport(handler)
    return ReplicateClient(http)


@pytest.mark.parametrize(
    ("body", "status", "output"),
    [
        ({"status": "aborted"}, PredictionStatus.FAILED, []),
        ({"status": "queued-somewhere"}, PredictionStatus.PROCESSING, []),
        (
            {"status": "succeeded", "output": {"image": "https://x/1.png", "n": 3}},
            "succeeded",
            ["https://x/1.png"],
        ),
        ({"status": "succeeded", "output": 42}, PredictionStatus.SUCCEEDED, []),
        ({"status": "starting", "created_at": "not a date", "metrics": [1]}, "starting", []),
    ],
)
def test_an_accepted_answer_always_parses(body, status, output):
    prediction = parse_prediction({"id": "p1", **body})
    assert prediction.status == status
    assert prediction.output == output


def test_aborted_reads_as_a_failure_worth_a_rerun():
    prediction = parse_prediction({"id": "p1", "status": "aborted"})
    assert prediction.error == "the provider aborted the prediction"
    assert not prediction.user_error


@pytest.mark.parametrize(
    "body", [{"status": "starting"}, {"id": 3, "status": "x"}, [], {"id": "a"}]
)
def test_only_id_and_status_are_required(body):
    with pytest.raises(NotAPrediction):
        parse_prediction(body)


async def test_create_asks_for_start_and_completed_and_sends_cancel_after():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "p1", "status": "starting", "output": {"a": 1}})

    prediction = await make_client(handler).create_prediction(
        model="o/n", input={}, webhook=HOOK, cancel_after_seconds=3900
    )
    body = json.loads(seen[0].content)
    assert body["webhook"] == HOOK
    assert body["webhook_events_filter"] == ["start", "logs", "completed"]
    assert seen[0].headers["Cancel-After"] == "3900s"
    assert prediction.id == "p1"


async def test_a_refused_connection_is_unreachable_and_a_lost_answer_is_not():
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def lost(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("server disconnected without a response", request=request)

    with pytest.raises(ProviderUnreachable):
        await make_client(refused).create_prediction(model="o/n", input={}, webhook=HOOK)
    with pytest.raises(ProviderUnavailable) as lost_error:
        await make_client(lost).create_prediction(model="o/n", input={}, webhook=HOOK)
    assert not isinstance(lost_error.value, ProviderUnreachable)


async def test_find_follows_pages_fetches_items_without_webhook_and_matches_exactly():
    """A listed item without its webhook is fetched whole, unless it shows another prompt."""
    seen: list[str] = []
    since = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/v1/predictions" and "cursor" not in request.url.params:
            assert request.url.params["created_after"] == since.isoformat()
            return httpx.Response(
                200,
                json={
                    "results": [
                        {"id": "other", "status": "starting", "webhook": HOOK + "0"},
                        {"id": "stranger", "status": "starting", "input": {"prompt": "x"}},
                        {"id": "bare", "status": "starting", "input": {"prompt": PROMPT}},
                        {"id": "unshown", "status": "starting"},
                    ],
                    "next": "https://api.example.test/v1/predictions?cursor=2",
                },
            )
        if request.url.path in ("/v1/predictions/bare", "/v1/predictions/unshown"):
            name = request.url.path.rpartition("/")[2]
            return httpx.Response(200, json={"id": name, "status": "starting", "webhook": None})
        return httpx.Response(
            200,
            json={
                "results": [{"id": "mine", "status": "processing", "webhook": HOOK}],
                "next": None,
            },
        )

    found = await make_client(handler).find_prediction(
        webhook=HOOK, created_after=since, prompt=PROMPT
    )
    assert found is not None
    assert found.id == "mine"
    assert [url.rpartition("/")[2] for url in seen[1:]] == [
        "bare",
        "unshown",
        "predictions?cursor=2",
    ]


async def test_find_never_follows_a_cursor_to_another_host():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(
            200, json={"results": [], "next": "https://evil.example/v1/predictions?cursor=2"}
        )

    found = await make_client(handler).find_prediction(
        webhook=HOOK, created_after=datetime(2026, 12, 1, tzinfo=UTC), prompt=PROMPT
    )
    assert found is None
    assert seen == ["api.example.test"]
