"""`ALLOWED_MODELS`: patterns with and without versions, and the 422 naming `model_name`."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import HTTPException

from api.allowed_models import model_allowed, require_allowed_model
from core.config import Settings

PATTERNS = ["black-forest-labs/*", "stability-ai/sdxl", "acme/pinned:v1*", "acme/any:*"]


@pytest.mark.parametrize(
    ("model", "allowed"),
    [
        ("black-forest-labs/flux-schnell", True),
        # A version id names its own model whatever name comes before it: only a pattern
        # that names versions allows one.
        ("black-forest-labs/flux-dev:abc123", False),
        ("stability-ai/sdxl", True),
        ("stability-ai/sdxl:39ed52f2a78e", False),
        ("acme/any:39ed52f2a78e", True),
        ("stability-ai/sdxl-turbo", False),
        ("stability-ai/other", False),
        ("acme/pinned:v1.2", True),
        ("acme/pinned:v2", False),
        ("acme/pinned", False),  # the latest version is not the one the pattern names
        ("black-forest-labs-evil/flux", False),
        ("evil/black-forest-labs/x", False),
    ],
)
def test_patterns(model: str, allowed: bool) -> None:
    assert model_allowed(model, PATTERNS) is allowed


def test_no_patterns_allow_any_model() -> None:
    assert model_allowed("anyone/anything:v9", [])
    require_allowed_model("anyone/anything", [])


def test_pattern_names_match_whatever_their_case() -> None:
    assert model_allowed("stability-ai/sdxl", ["Stability-AI/SDXL"])


def test_refusal_names_the_field_and_the_allowed_models() -> None:
    with pytest.raises(HTTPException) as caught:
        require_allowed_model("someone/else", PATTERNS)
    assert caught.value.status_code == 422
    detail: Any = caught.value.detail
    [error] = detail
    assert error["loc"] == ["body", "model_name"]
    assert "someone/else" in error["msg"]
    assert all(pattern in error["msg"] for pattern in PATTERNS)


def test_setting_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_MODELS", " black-forest-labs/* , stability-ai/sdxl ,")
    assert Settings().allowed_models == ["black-forest-labs/*", "stability-ai/sdxl"]
    monkeypatch.setenv("ALLOWED_MODELS", "")
    assert Settings().allowed_models == []
