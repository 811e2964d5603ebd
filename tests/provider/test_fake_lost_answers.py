"""Creates whose answer is lost (the prediction exists, the client hears nothing), and the
counters a fault suite reads to tell predictions per job and orphans still running."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import orjson
import pytest

from tests.provider.conftest import FakeServer, WebhookReceiver
from tests.provider.fake_calls import FLUX, create, created, eventually


def _listed_since(api: httpx.Client, since: str) -> list[dict[str, object]]:
    page = api.get("/predictions", params={"created_after": since})
    assert page.status_code == 200, page.text
    results: list[dict[str, object]] = page.json()["results"]
    return results


def test_a_lost_answer_is_no_response_yet_the_prediction_runs(
    api: httpx.Client, fake: FakeServer, receiver: WebhookReceiver
) -> None:
    marker = created(api, {"prompt": "before the loss"}, wait=None)["created_at"]
    before = fake.state()
    data = {"prompt": "answer lost", "fake": {"latency": 0.3, "lose_answer": 1}}

    with pytest.raises(httpx.RemoteProtocolError):
        create(api, data, wait=None, webhook=receiver.url, webhook_events_filter=["completed"])

    after = fake.state()
    assert after["creates"]["total"] == before["creates"]["total"] + 1
    assert (
        after["faults"]["create:lose_answer"] == before["faults"].get("create:lose_answer", 0) + 1
    )
    [orphan] = [p for p in _listed_since(api, marker) if p["input"] == data]
    fetched = api.get(f"/predictions/{orphan['id']}").json()
    assert fetched["webhook"] == receiver.url
    [hook] = receiver.wait_for(lambda got: len(got) == 1)
    assert orjson.loads(hook.body)["id"] == orphan["id"]
    assert orjson.loads(hook.body)["status"] == "succeeded"


def test_the_retry_is_answered_and_pays_twice(api: httpx.Client, fake: FakeServer) -> None:
    data = {"prompt": "retried blindly", "fake": {"lose_answer": True}}
    before = fake.state()["creates"]["total"]

    with pytest.raises(httpx.RemoteProtocolError):
        create(api, data, wait=None)
    retry = create(api, data, wait=None)

    # `true` is one lost answer: the same request again is answered, with a second prediction.
    assert retry.status_code == 201
    assert fake.state()["creates"]["total"] == before + 2


def test_a_lost_answer_comes_after_prefer_wait(api: httpx.Client) -> None:
    data = {"prompt": "waited then lost", "fake": {"latency": 0.3, "lose_answer": 1}}
    marker = created(api, {"prompt": "marker"}, wait=None)["created_at"]

    with pytest.raises(httpx.RemoteProtocolError):
        create(api, data)

    [orphan] = [p for p in _listed_since(api, marker) if p["input"] == data]
    assert orphan["status"] == "succeeded"


def test_a_refused_create_loses_nothing(api: httpx.Client, fake: FakeServer) -> None:
    before = fake.state()
    response = create(api, {"fake": {"lose_answer": 1}}, wait=None)

    assert response.status_code == 422
    assert fake.state()["creates"]["total"] == before["creates"]["total"]


def test_lose_answer_must_be_a_count(api: httpx.Client) -> None:
    response = create(api, {"prompt": "x", "fake": {"lose_answer": "yes"}}, wait=None)
    assert response.status_code == 422
    assert response.json()["invalid_fields"][0]["field"] == "input.fake.lose_answer"


def test_lose_answer_rate_and_the_orphan_counters(
    make_fake: Callable[..., AbstractContextManager[FakeServer]],
) -> None:
    hooks = {"a": "http://127.0.0.1:9/job-a", "b": "http://127.0.0.1:9/job-b"}
    env = {"LOSE_ANSWER_RATE": "1", "WEBHOOK_MAX_ATTEMPTS": "1"}
    with make_fake(**env) as server, server.client() as client:
        for job, count in (("a", 2), ("b", 1)):
            for i in range(count):
                body = {"input": {"prompt": f"{job} {i}", "fake": {"latency": 30}}}
                with pytest.raises(httpx.RemoteProtocolError):
                    client.post(FLUX, json={**body, "webhook": hooks[job]})
        state = httpx.get(f"{server.base_url}/_fake/state", params={"by": "webhook"}).json()
        listed = client.get("/predictions").json()["results"]
        client.post(f"/predictions/{listed[0]['id']}/cancel")
        after = server.state()

    assert state["creates"]["total"] == 3
    assert state["faults"]["create:lose_answer"] == 3
    assert state["running"] == 3
    assert state["by_webhook"] == {
        hooks["a"]: {"created": 2, "running": 2},
        hooks["b"]: {"created": 1, "running": 1},
    }
    assert len(listed) == 3
    assert after["running"] == 2
    assert "by_webhook" not in after


def test_running_counts_only_unfinished_predictions(
    make_fake: Callable[..., AbstractContextManager[FakeServer]],
) -> None:
    with make_fake() as server, server.client() as client:
        created(client, {"prompt": "slow", "fake": {"latency": 30}}, wait=None)
        created(client, {"prompt": "quick", "fake": {"latency": 0.2}}, wait=None)
        assert server.state()["running"] == 2
        assert eventually(lambda: server.state()["running"] == 1)
        state = server.state()
        bad = httpx.get(f"{server.base_url}/_fake/state", params={"by": "job"})

    assert state["creates"]["total"] == 2
    assert state["predictions"]["total"] == 2
    assert state["predictions"]["succeeded"] == 1
    assert bad.status_code == 400
