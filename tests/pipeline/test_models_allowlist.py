"""`ALLOWED_MODELS`: an API process that allows some models refuses the others with a 422."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from core.api_keys import bearer
from tests.pipeline.api_process import api_process

ALLOWED = "black-forest-labs/*,stability-ai/sdxl:*"


@dataclass
class WithEnv:
    """The stack's environment plus some settings of our own, for `api_process`."""

    base: Mapping[str, str]
    extra: Mapping[str, str]

    @property
    def env(self) -> Mapping[str, str]:
        return {**self.base, **self.extra}


async def test_only_allowed_models_are_accepted(stack) -> None:
    async with (
        api_process(WithEnv(stack.env, {"ALLOWED_MODELS": ALLOWED})) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=bearer(stack.api_key)) as api,
    ):
        refused = await api.post(
            "/api/v1/generate", json={"prompt": "a fox", "model_name": "someone/else"}
        )
        pinned = await api.post(
            "/api/v1/generate",
            json={"prompt": "a fox", "model_name": "stability-ai/sdxl:39ed52f2a78e"},
        )
        # A version id runs whatever model it belongs to: the allowed name before it is no proof.
        smuggled = await api.post(
            "/api/v1/generate",
            json={"prompt": "a fox", "model_name": f"black-forest-labs/flux-schnell:{'a' * 64}"},
        )
        default = await api.post("/api/v1/generate", json={"prompt": "a fox"})

    assert refused.status_code == 422, refused.text
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "model_name"]
    assert "someone/else" in error["msg"]
    assert "black-forest-labs/*" in error["msg"]
    assert "stability-ai/sdxl" in error["msg"]
    # Not a model the fake knows, but allowed: the API accepts it (the job fails later).
    assert pinned.status_code == 202, pinned.text
    assert default.status_code == 202, default.text  # black-forest-labs/flux-schnell
    assert smuggled.status_code == 422, smuggled.text


async def test_without_the_setting_any_model_is_accepted(api) -> None:
    response = await api.post(
        "/api/v1/generate", json={"prompt": "a fox", "model_name": "someone/else"}
    )
    assert response.status_code == 202, response.text
