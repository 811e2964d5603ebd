"""The fake's predictions over plain HTTP: waiting, rendering, validation, failures, cancel."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.provider.conftest import FakeServer
from tests.provider.fake_calls import (
    FLUX,
    PROBLEM,
    create,
    created,
    download,
)


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
