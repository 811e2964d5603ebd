"""Request and list schemas of the REST API (the job document itself is core.schemas)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from core.schemas import JobPublic

MODEL_NAME = r"^[a-z0-9][a-z0-9._-]{0,99}/[a-z0-9][a-z0-9._-]{0,99}(:[a-zA-Z0-9._-]{1,128})?$"
# The jobs.model_name column holds 200 characters (core/models.py); the pattern alone allows 330.
MODEL_NAME_MAX = 200
ASPECT_RATIO = re.compile(r"^[1-9]\d{0,2}:[1-9]\d{0,2}$")
MAX_PARAMETER_DEPTH = 8
# The known parameters and their ranges (API.md); other keys pass through to the model.
INT_RANGES = {
    "width": (64, 2048),
    "height": (64, 2048),
    "num_outputs": (1, 4),
    "num_inference_steps": (1, 100),
}
OUTPUT_FORMATS = ("png", "webp", "jpg")


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _non_finite(value: Any) -> bool:
    """Whether a JSON value holds NaN or an infinity anywhere (Python's parser reads `NaN`,
    `Infinity` and `1e400`; JSON has no such numbers, so PostgreSQL's JSONB refuses them)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_non_finite(item) for item in value)
    return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# A job's `webhook_url` as a request may give it; where it may point is checked apart
# (api/webhook_urls.py), against what its name resolves to.
WEBHOOK_URL_MAX = 2048
WEBHOOK_URL_DESCRIPTION = (
    "Called (POST, signed: GET /api/v1/webhooks/secret) when the job ends."
    " https to a public host; internal hosts only if WEBHOOK_ALLOWED_HOSTS lists them."
)
WebhookUrl = Annotated[
    str,
    StringConstraints(pattern=r"^https?://[^\s]+$", max_length=WEBHOOK_URL_MAX),
    AfterValidator(lambda url: storable_text(url, "webhook_url")),
]


def storable_text(value: str, field: str) -> str:
    """PostgreSQL text holds neither NUL characters nor lone surrogates: refuse them up front."""
    if "\x00" in value:
        raise ValueError(f"{field} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{field} must be valid Unicode text") from exc
    return value


def check_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Checks the known parameters; raises ValueError naming the parameter and the rule."""
    if _depth(parameters) > MAX_PARAMETER_DEPTH:
        raise ValueError(f"parameters nest deeper than {MAX_PARAMETER_DEPTH} levels")
    for text in _strings(parameters):
        storable_text(text, "parameters")
    if _non_finite(parameters):
        raise ValueError("parameters must not hold NaN or Infinity: JSON numbers are finite")
    for name, (low, high) in INT_RANGES.items():
        if name in parameters and not (
            _is_int(parameters[name]) and low <= parameters[name] <= high
        ):
            raise ValueError(f"parameters.{name} must be an integer from {low} to {high}")
    guidance = parameters.get("guidance_scale")
    if "guidance_scale" in parameters and not (
        isinstance(guidance, int | float) and not isinstance(guidance, bool) and 0 <= guidance <= 20
    ):
        raise ValueError("parameters.guidance_scale must be a number from 0 to 20")
    if "seed" in parameters and not (
        _is_int(parameters["seed"]) and 0 <= parameters["seed"] < 2**32
    ):
        raise ValueError("parameters.seed must be a non-negative integer below 2^32")
    if "output_format" in parameters and parameters["output_format"] not in OUTPUT_FORMATS:
        raise ValueError(f"parameters.output_format must be one of {', '.join(OUTPUT_FORMATS)}")
    ratio = parameters.get("aspect_ratio")
    if "aspect_ratio" in parameters and not (isinstance(ratio, str) and ASPECT_RATIO.match(ratio)):
        raise ValueError("parameters.aspect_ratio must look like 16:9")
    return parameters


class JobCreate(BaseModel):
    """The body of POST /api/v1/generate."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "prompt": "A serene mountain landscape at sunset",
                "model_name": "black-forest-labs/flux-schnell",
                "parameters": {"width": 512, "height": 512, "output_format": "png", "seed": 42},
            }
        }
    )

    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    model_name: Annotated[str, StringConstraints(pattern=MODEL_NAME, max_length=MODEL_NAME_MAX)] = (
        "black-forest-labs/flux-schnell"
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Model input besides the prompt; a JSON string holding an object is accepted too.",
    )
    webhook_url: WebhookUrl | None = Field(
        default=None,
        description=WEBHOOK_URL_DESCRIPTION,
    )

    @field_validator("prompt")
    @classmethod
    def _storable(cls, value: str) -> str:
        return storable_text(value, "prompt")

    @field_validator("parameters", mode="before")
    @classmethod
    def _parse_parameters(cls, value: Any) -> Any:
        """Older clients send the parameters as a JSON string that holds an object."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError) as exc:
                raise ValueError("parameters is a string that is not JSON") from exc
            if not isinstance(value, dict):
                raise ValueError("parameters must be an object (or a JSON string holding one)")
        return value

    @field_validator("parameters")
    @classmethod
    def _check_parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_parameters(value)

    def fingerprint(self) -> str:
        """A digest of the request, to tell a replay from a different body under one key."""
        canonical = json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class JobList(BaseModel):
    """A page of jobs, newest first."""

    items: list[JobPublic]
    total: int
    limit: int
    offset: int
