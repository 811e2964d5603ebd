"""Create-time validation of a prediction's `input` and webhook fields (422 on failure).

Only the keys image models commonly share are checked; any other key passes through, as a
real model's schema would accept its own extra parameters.
"""

from __future__ import annotations

import re
from typing import Any

from devstack.fake_replicate.problems import InvalidField

OUTPUT_FORMATS = ("webp", "jpg", "png")
WEBHOOK_EVENTS = ("start", "output", "logs", "completed")
ASPECT_RATIO = re.compile(r"^([1-9]\d{0,2}):([1-9]\d{0,2})$")

# key -> (minimum, maximum, integers only)
_NUMBERS: dict[str, tuple[float, float | None, bool]] = {
    "width": (64, 2048, True),
    "height": (64, 2048, True),
    "num_outputs": (1, 4, True),
    "num_inference_steps": (1, 100, True),
    "guidance_scale": (0, 20, False),
    "seed": (0, None, True),
}


def _number(key: str, value: object) -> InvalidField | None:
    low, high, integer = _NUMBERS[key]
    field = f"input.{key}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return InvalidField("invalid_type", field, "Must be a number")
    if integer and not isinstance(value, int):
        return InvalidField("invalid_type", field, "Must be an integer")
    if value < low:
        return InvalidField("number_gte", field, f"Must be greater than or equal to {low:g}")
    if high is not None and value > high:
        return InvalidField("number_lte", field, f"Must be less than or equal to {high:g}")
    return None


def validate_input(data: dict[str, Any]) -> list[InvalidField]:
    errors: list[InvalidField] = []
    prompt = data.get("prompt")
    if prompt is None:
        errors.append(InvalidField("required", "input.prompt", "prompt is required"))
    elif not isinstance(prompt, str):
        errors.append(InvalidField("invalid_type", "input.prompt", "Must be a string"))
    elif not prompt.strip():
        errors.append(InvalidField("string_gte", "input.prompt", "Must not be empty"))
    for key in _NUMBERS.keys() & data.keys():
        if (error := _number(key, data[key])) is not None:
            errors.append(error)
    fmt = data.get("output_format")
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        errors.append(
            InvalidField(
                "enum", "input.output_format", f"Must be one of {', '.join(OUTPUT_FORMATS)}"
            )
        )
    ratio = data.get("aspect_ratio")
    if ratio is not None and not (isinstance(ratio, str) and ASPECT_RATIO.match(ratio)):
        errors.append(InvalidField("pattern", "input.aspect_ratio", 'Must look like "16:9"'))
    error = data.get("fake_error")
    if error is not None and not isinstance(error, str):
        errors.append(InvalidField("invalid_type", "input.fake_error", "Must be a string"))
    return sorted(errors, key=lambda e: e.field)


def validate_webhook(body: dict[str, Any]) -> list[InvalidField]:
    errors: list[InvalidField] = []
    for key in ("webhook", "webhook_completed"):
        url = body.get(key)
        if url is not None and not (
            isinstance(url, str) and url.startswith(("http://", "https://"))
        ):
            errors.append(InvalidField("format", key, "Must be an http(s) URL"))
    events = body.get("webhook_events_filter")
    if events is not None and (
        not isinstance(events, list) or any(e not in WEBHOOK_EVENTS for e in events)
    ):
        errors.append(
            InvalidField(
                "enum", "webhook_events_filter", f"Items must be among {', '.join(WEBHOOK_EVENTS)}"
            )
        )
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        errors.append(InvalidField("invalid_type", "stream", "Must be a boolean"))
    return errors
