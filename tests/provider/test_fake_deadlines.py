"""`Cancel-After` at create: the fake ends a prediction still running at its deadline,
`canceled` if it had started and `aborted` if not, as Replicate does."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.provider.conftest import FakeServer, WebhookReceiver, run_fake
from tests.provider.fake_calls import PROBLEM, create, created, eventually


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeServer, httpx.Client]]:
    """A fake that accepts deadlines of a second, so that tests need not wait Replicate's 5 s."""
    workdir = tmp_path_factory.mktemp("quick-deadlines")
    with run_fake(workdir, CANCEL_AFTER_MIN_SECONDS="1") as server, server.client() as client:
        yield server, client


def _status(client: httpx.Client, prediction_id: str) -> str:
    status: str = client.get(f"/predictions/{prediction_id}").json()["status"]
    return status


@pytest.mark.parametrize(
    ("header", "seconds"), [("90", 90), ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m45s", 5445)]
)
def test_replicate_durations_are_accepted(
    api: httpx.Client, fake: FakeServer, header: str, seconds: int
) -> None:
    prediction = created(api, {"prompt": "deadline"}, wait=None, headers={"Cancel-After": header})
    drawn = httpx.get(f"{fake.base_url}/_fake/predictions/{prediction['id']}").json()["fake"]
    assert drawn["cancel_after"] == pytest.approx(seconds)


@pytest.mark.parametrize("header", ["soon", "1.5s", "30 s", "1s30m", "-5s", "", "4s"])
def test_malformed_or_too_short_is_a_400(api: httpx.Client, fake: FakeServer, header: str) -> None:
    before = fake.state()["creates"]["total"]
    response = create(api, {"prompt": "x"}, wait=None, headers={"Cancel-After": header})

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert "Cancel-After" in response.json()["detail"]
    assert fake.state()["creates"]["total"] == before


def test_a_started_prediction_is_canceled_at_its_deadline(
    quick: tuple[FakeServer, httpx.Client], receiver: WebhookReceiver
) -> None:
    server, client = quick
    prediction = created(
        client,
        {"prompt": "too slow", "fake": {"latency": 5}},
        wait=None,
        headers={"Cancel-After": "1s"},
        webhook=receiver.url,
        webhook_events_filter=["completed"],
    )
    assert prediction["status"] == "starting"

    [hook] = receiver.wait_for(lambda got: len(got) == 1)
    final = client.get(f"/predictions/{prediction['id']}").json()
    assert orjson.loads(hook.body)["status"] == "canceled"
    assert final["status"] == "canceled"
    assert final["started_at"] is not None
    assert final["completed_at"] is not None
    assert final["output"] is None
    state = httpx.get(f"{server.base_url}/_fake/state", params={"by": "webhook"}).json()
    assert state["by_webhook"][receiver.url] == {"created": 1, "running": 0}


def test_a_prediction_that_never_started_is_aborted(
    quick: tuple[FakeServer, httpx.Client],
) -> None:
    _, client = quick
    # Starting lasts a tenth of the latency: 3 s, past the 1 s deadline.
    prediction = created(
        client,
        {"prompt": "queued", "fake": {"latency": 30}},
        wait=None,
        headers={"Cancel-After": "1"},
    )

    assert eventually(lambda: _status(client, prediction["id"]) == "aborted", timeout=5)
    final = client.get(f"/predictions/{prediction['id']}").json()
    assert final["started_at"] is None
    assert final["completed_at"] is not None


def test_prefer_wait_returns_at_the_deadline(quick: tuple[FakeServer, httpx.Client]) -> None:
    _, client = quick
    started = time.monotonic()
    prediction = created(
        client, {"prompt": "waited", "fake": {"latency": 10}}, headers={"Cancel-After": "1s"}
    )

    assert prediction["status"] == "canceled"
    assert 0.9 < time.monotonic() - started < 5


def test_a_prediction_done_before_its_deadline_is_untouched(api: httpx.Client) -> None:
    prediction = created(
        api, {"prompt": "in time", "fake": {"latency": 0.3}}, headers={"Cancel-After": "5s"}
    )

    assert prediction["status"] == "succeeded"
    assert len(prediction["output"]) == 1


def test_an_early_cancel_wins_over_the_deadline(quick: tuple[FakeServer, httpx.Client]) -> None:
    _, client = quick
    prediction = created(
        client,
        {"prompt": "stop now", "fake": {"latency": 30}},
        wait=None,
        headers={"Cancel-After": "2s"},
    )
    canceled = client.post(f"/predictions/{prediction['id']}/cancel").json()

    time.sleep(2.2)
    assert canceled["status"] == "canceled"
    assert client.get(f"/predictions/{prediction['id']}").json() == canceled
