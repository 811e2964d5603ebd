"""The fake's list filters (`created_after`, `created_before`) and the webhook fields it shows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from tests.provider.conftest import WebhookReceiver
from tests.provider.fake_calls import PROBLEM, created


def _walk(api: httpx.Client, **params: str) -> tuple[list[str], list[str]]:
    """Every id the filtered list holds, newest first, and the `next` URLs followed."""
    page = api.get("/predictions", params=params)
    assert page.status_code == 200, page.text
    ids, urls = [p["id"] for p in page.json()["results"]], []
    while (url := page.json()["next"]) is not None:
        urls.append(url)
        page = api.get(url)
        assert page.status_code == 200, page.text
        ids += [p["id"] for p in page.json()["results"]]
    return ids, urls


def _batch(api: httpx.Client, count: int) -> list[dict[str, Any]]:
    return [created(api, {"prompt": f"listed {i}"}, wait=None) for i in range(count)]


def test_created_after_is_inclusive_and_pages_keep_the_filter(api: httpx.Client) -> None:
    batch = _batch(api, 7)  # the session fake's page size is 5: two pages
    ids, urls = _walk(api, created_after=batch[0]["created_at"])

    assert ids == [p["id"] for p in reversed(batch)]
    assert len(urls) == 1
    assert parse_qs(urlsplit(urls[0]).query)["created_after"] == [batch[0]["created_at"]]


def test_created_before_is_exclusive(api: httpx.Client) -> None:
    batch = _batch(api, 4)
    ids, _ = _walk(api, created_after=batch[0]["created_at"], created_before=batch[3]["created_at"])

    assert ids == [p["id"] for p in reversed(batch[:3])]


def test_offsets_and_naive_times_mean_the_same_instant(api: httpx.Client) -> None:
    batch = _batch(api, 2)
    instant = datetime.fromisoformat(batch[1]["created_at"])
    shifted = instant.astimezone(timezone(timedelta(hours=2))).isoformat()
    naive = instant.replace(tzinfo=None).isoformat()

    assert _walk(api, created_after=shifted)[0] == [batch[1]["id"]]
    assert _walk(api, created_after=naive)[0] == [batch[1]["id"]]


def test_previous_page_keeps_the_filter(api: httpx.Client) -> None:
    batch = _batch(api, 6)
    first = api.get("/predictions", params={"created_after": batch[0]["created_at"]}).json()
    second = api.get(first["next"]).json()
    back = api.get(second["previous"]).json()

    assert [p["id"] for p in second["results"]] == [batch[0]["id"]]
    assert second["next"] is None
    assert "created_after=" in second["previous"]
    assert [p["id"] for p in back["results"]] == [p["id"] for p in first["results"]]


def test_a_filter_that_matches_nothing(api: httpx.Client) -> None:
    page = api.get("/predictions", params={"created_before": "2001-01-01T00:00:00Z"}).json()
    assert page == {"previous": None, "next": None, "results": []}


@pytest.mark.parametrize("name", ["created_after", "created_before"])
@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", "1700000000", ""])
def test_invalid_times_are_a_400_problem(api: httpx.Client, name: str, value: str) -> None:
    response = api.get("/predictions", params={name: value})

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 400
    assert name in problem["detail"]
    assert problem["invalid_fields"][0]["field"] == name


def test_webhook_fields_on_the_prediction_but_not_in_the_list(
    api: httpx.Client, receiver: WebhookReceiver
) -> None:
    events = ["start", "completed"]
    answer = created(
        api,
        {"prompt": "hooked fields", "fake": {"latency": 0.3}},
        wait=None,
        webhook=receiver.url,
        webhook_events_filter=events,
    )
    fetched = api.get(f"/predictions/{answer['id']}").json()
    listed = api.get("/predictions", params={"created_after": answer["created_at"]}).json()
    bodies = [orjson.loads(r.body) for r in receiver.wait_for(lambda got: len(got) == 2)]

    for shown in (answer, fetched, *bodies):
        assert shown["webhook"] == receiver.url
        assert shown["webhook_events_filter"] == events
    [item] = listed["results"]
    assert item["id"] == answer["id"]
    assert "webhook" not in item
    assert "webhook_events_filter" not in item


def test_no_webhook_no_fields_and_the_legacy_webhook_completed(
    api: httpx.Client, receiver: WebhookReceiver
) -> None:
    plain = created(api, {"prompt": "no hook"}, wait=None)
    legacy = created(api, {"prompt": "old hook"}, wait=None, webhook_completed=receiver.url)

    assert "webhook" not in plain
    assert "webhook_events_filter" not in plain
    assert legacy["webhook"] == receiver.url
    assert legacy["webhook_events_filter"] == ["completed"]
