"""The fake's hostile outputs (`fake.hostile`, issue #16) and its leaked-token counter."""

from __future__ import annotations

import httpx
import pytest

from tests.provider.conftest import TOKEN, FakeServer
from tests.provider.fake_calls import created


@pytest.mark.parametrize(
    ("hostile", "url"),
    [
        ("relative", "account"),
        ("api", "{base}/v1/account"),
        ("metadata", "http://169.254.169.254/latest/meta-data/"),
        ("private", "http://10.0.0.1/x.png"),
    ],
)
def test_hostile_output_urls(api: httpx.Client, fake: FakeServer, hostile: str, url: str) -> None:
    prediction = created(api, {"prompt": "p", "fake": {"hostile": hostile, "latency": 0}})

    assert prediction["output"] == [url.format(base=fake.base_url)]


def test_normal_outputs_are_delivered_apart_from_the_api(api: httpx.Client, fake: FakeServer):
    prediction = created(api, {"prompt": "p", "fake": {"latency": 0}})
    url = prediction["output"][0]

    assert url.startswith(f"{fake.base_url}/delivery/{prediction['id']}/")
    assert httpx.get(url).status_code == 200


@pytest.mark.parametrize(
    ("hostile", "location"),
    [
        ("redirect_private", "http://127.0.0.1:1/"),
        ("redirect_api", "{base}/v1/account"),
        ("redirect_ok", "{url}"),
    ],
)
def test_redirecting_files(api: httpx.Client, fake: FakeServer, hostile: str, location: str):
    prediction = created(api, {"prompt": "p", "fake": {"hostile": hostile, "latency": 0}})
    url = prediction["output"][0]

    response = httpx.get(url)

    assert response.status_code == 302
    target = url.removesuffix("?redirect=1")
    assert response.headers["location"] == location.format(base=fake.base_url, url=target)
    assert httpx.get(target).status_code == 200


@pytest.mark.parametrize(
    ("hostile", "content_type", "start"),
    [("html", "text/html", b"<!doctype html>"), ("svg", "image/svg+xml", b"<svg")],
)
def test_hostile_bodies(api: httpx.Client, hostile: str, content_type: str, start: bytes):
    prediction = created(api, {"prompt": "p", "fake": {"hostile": hostile, "latency": 0}})

    response = httpx.get(prediction["output"][0])

    assert response.headers["content-type"].startswith(content_type)
    assert response.content.startswith(start)


def test_an_unknown_hostile_option_is_a_422(api: httpx.Client) -> None:
    response = api.post(
        "/models/black-forest-labs/flux-schnell/predictions",
        json={"input": {"prompt": "p", "fake": {"hostile": "nope"}}},
    )

    assert response.status_code == 422
    assert "input.fake.hostile" in response.text


def test_a_token_sent_outside_the_api_is_counted(api: httpx.Client, fake: FakeServer) -> None:
    prediction = created(api, {"prompt": "p", "fake": {"latency": 0}})
    before = fake.state()["token_outside_api"]

    api.get(f"/predictions/{prediction['id']}")  # the API: fine
    httpx.get(prediction["output"][0])  # no token: fine
    assert fake.state()["token_outside_api"] == before
    httpx.get(prediction["output"][0], headers={"Authorization": f"Bearer {TOKEN}"})
    assert fake.state()["token_outside_api"] == before + 1
