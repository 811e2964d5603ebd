"""The official `replicate` client, unchanged, against the fake."""

from __future__ import annotations

import hashlib
import io

import httpx
import pytest
from PIL import Image
from replicate.client import Client
from replicate.exceptions import ModelError, ReplicateError
from replicate.pagination import paginate

from tests.provider.conftest import FakeServer, close_sync, replicate_client

FLUX = "black-forest-labs/flux-schnell"


def _image(url: object) -> Image.Image:
    """Fetch an output (a URL string, or a FileOutput for https URLs) and open it."""
    if isinstance(url, str):
        response = httpx.get(url)
        response.raise_for_status()
        data = response.content
    else:
        data = url.read()  # type: ignore[attr-defined]
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_models_predictions_create_wait_and_download(rep: Client) -> None:
    prediction = rep.models.predictions.create(
        model=FLUX,
        input={"prompt": "a red fox", "width": 256, "height": 192, "output_format": "png"},
    )
    assert prediction.status == "starting"
    assert prediction.model == FLUX
    assert prediction.version == hashlib.sha256(FLUX.encode()).hexdigest()
    assert prediction.output is None

    prediction.wait()

    assert str(prediction.status) == "succeeded"  # wait() reloaded it; str() for mypy's narrowing
    assert prediction.error is None
    assert prediction.logs is not None
    assert "Using seed: " in prediction.logs
    assert prediction.progress is not None
    assert prediction.progress.percentage == 1.0
    assert prediction.metrics is not None
    assert prediction.metrics["predict_time"] > 0
    assert prediction.completed_at is not None
    assert prediction.completed_at.endswith("Z")
    assert prediction.output is not None
    [url] = prediction.output
    image = _image(url)
    assert (image.format, image.size) == ("PNG", (256, 192))


def test_predictions_create_by_version_id(rep: Client) -> None:
    model = rep.models.get("stability-ai/sdxl")
    assert model.latest_version is not None
    version_id = model.latest_version.id

    prediction = rep.predictions.create(
        version=version_id, input={"prompt": "a lighthouse", "width": 128, "height": 128}
    )
    prediction.wait()

    assert prediction.status == "succeeded"
    assert (prediction.model, prediction.version) == ("stability-ai/sdxl", version_id)
    # SDXL's default output format is png, flux-schnell's webp.
    assert prediction.output is not None
    assert _image(prediction.output[0]).format == "PNG"


def test_deployment_predictions(rep: Client, fake: FakeServer) -> None:
    before = fake.state()["creates"].get("deployments", 0)
    prediction = rep.deployments.predictions.create(
        deployment="acme/house-flux",
        input={"prompt": "a boat", "width": 64, "height": 64},
        wait=True,
    )
    assert prediction.status == "succeeded"
    assert prediction.model == "acme/house-flux"
    assert fake.state()["creates"]["deployments"] == before + 1


def test_cancel_long_prediction(rep: Client, fake: FakeServer) -> None:
    before = fake.state()
    prediction = rep.models.predictions.create(
        model=FLUX, input={"prompt": "a slow one", "fake": {"latency": 60}}
    )
    prediction.cancel()

    assert prediction.status == "canceled"
    again = rep.predictions.get(prediction.id)
    assert again.status == "canceled"
    assert again.output is None
    assert again.completed_at is not None
    state = fake.state()
    assert state["cancels"] == before["cancels"] + 1
    assert state["predictions"]["canceled"] == before["predictions"].get("canceled", 0) + 1


def test_run_end_to_end(rep: Client) -> None:
    output = rep.run(
        FLUX, input={"prompt": "a tiny castle", "aspect_ratio": "16:9", "num_outputs": 2}
    )

    assert isinstance(output, list)
    assert len(output) == 2
    images = [_image(item) for item in output]
    assert all((img.format, img.size) == ("WEBP", (1360, 768)) for img in images)


def test_run_with_version_ref_and_model_error(rep: Client) -> None:
    ref = f"stability-ai/sdxl:{hashlib.sha256(b'stability-ai/sdxl').hexdigest()}"
    [url] = rep.run(
        ref, input={"prompt": "a fern", "width": 96, "height": 96, "output_format": "jpg"}
    )
    assert _image(url).format == "JPEG"

    with pytest.raises(ModelError, match="NSFW content detected"):
        rep.run(FLUX, input={"prompt": "something [nsfw]"})


async def test_async_run(fake: FakeServer) -> None:
    client = replicate_client(fake)
    try:
        output = await client.async_run(
            FLUX, input={"prompt": "async owl", "width": 80, "height": 80}
        )
    finally:
        await client._async_client.aclose()
    assert isinstance(output, list)
    assert len(output) == 1
    assert str(output[0]).endswith("/out-0.webp")


def test_list_pagination(rep: Client, fake: FakeServer) -> None:
    # The test fake's page size is 5 (see conftest).
    ids = [
        rep.models.predictions.create(model=FLUX, input={"prompt": f"page item {i}"}).id
        for i in range(7)
    ]
    newest_first = ids[::-1]

    first = rep.predictions.list()
    assert [p.id for p in first.results] == newest_first[:5]
    assert first.previous is None
    assert first.next is not None
    assert first.next.startswith(fake.base_url + "/v1/predictions?cursor=")

    second = rep.predictions.list(first.next)
    assert [p.id for p in second.results][:2] == newest_first[5:]
    assert second.previous is not None
    assert [p.id for p in rep.predictions.list(second.previous).results] == newest_first[:5]

    every = [p.id for page in paginate(rep.predictions.list) for p in page]
    assert len(every) == len(set(every))
    assert every[:7] == newest_first


def test_model_and_version_lookup(rep: Client) -> None:
    model = rep.models.get("black-forest-labs", "flux-schnell")
    assert (model.owner, model.name, model.visibility) == (
        "black-forest-labs",
        "flux-schnell",
        "public",
    )
    assert model.latest_version is not None
    version = model.versions.get(model.latest_version.id)
    assert version.id == hashlib.sha256(FLUX.encode()).hexdigest()
    assert "prompt" in version.openapi_schema["components"]["schemas"]["Input"]["properties"]

    with pytest.raises(ReplicateError) as missing:
        rep.models.get("fake/unknown")
    assert missing.value.status == 404
    with pytest.raises(ReplicateError) as bad_version:
        rep.predictions.create(version="0" * 64, input={"prompt": "x"})
    assert bad_version.value.status == 422


def test_stream(rep: Client) -> None:
    events = list(rep.stream(FLUX, input={"prompt": "streamed", "width": 64, "height": 64}))
    kinds = [event.event.value for event in events]
    assert kinds == ["output", "done"]
    assert _image(str(events[0])).size == (64, 64)


def test_webhook_secret(rep: Client) -> None:
    assert rep.webhooks.default.secret().key.startswith("whsec_")


def test_client_without_token_is_refused(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    anonymous = replicate_client(fake, token=None)
    with pytest.raises(ReplicateError) as refused:
        anonymous.models.get(FLUX)
    close_sync(anonymous)
    assert refused.value.status == 401
