"""Reading the provider's prediction JSON (API answers and webhooks) into `Prediction`.

Strict only about what the service must know, `id` and `status`: once the provider has
accepted a request, an answer we fail to parse would make us retry the create and pay twice.
So an unknown status reads as still running (the workflow's deadline bounds it), `aborted`
as failed, an output of any shape as the URLs it holds, and a malformed timestamp as absent.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from core.jobs import Prediction, PredictionStatus
from core.progress import parse_progress

# Failed predictions whose error is the user's doing: running them again cannot help.
_USER_ERRORS = re.compile(r"nsfw|invalid input|validation error", re.IGNORECASE)
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
# Replicate's `aborted`: ended before it started (a deadline, say): a failure worth a rerun.
_ABORTED = "aborted"


class NotAPrediction(ValueError):
    """The JSON lacks a prediction's `id` or `status`."""


def _status(value: Any) -> tuple[PredictionStatus, str | None]:
    if value == _ABORTED:
        return PredictionStatus.FAILED, "the provider aborted the prediction"
    try:
        return PredictionStatus(value), None
    except ValueError:
        return PredictionStatus.PROCESSING, None


def _urls(output: Any) -> list[str]:
    """The strings of an output: one, a list of them, or a dict of named ones."""
    if isinstance(output, str):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, list):
        return [item for item in output if isinstance(item, str)]
    return []


def _when(value: Any) -> datetime | None:
    try:
        return _DATETIME.validate_python(value) if value else None
    except ValidationError:
        return None


def parse_prediction(body: Any) -> Prediction:
    """The fields the workflow acts on, from a prediction JSON.

    Raises:
        NotAPrediction: no string `id` or no `status`.
    """
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or "status" not in body:
        raise NotAPrediction("a prediction has a string `id` and a `status`")
    status, aborted = _status(body["status"])
    error = str(body["error"]) if body.get("error") else aborted
    metrics = body.get("metrics")
    return Prediction(
        id=body["id"],
        status=status,
        output=_urls(body.get("output")),
        error=error,
        user_error=bool(error and _USER_ERRORS.search(error)),
        progress=parse_progress(body.get("logs")),
        metrics=metrics if isinstance(metrics, dict) else {},
        created_at=_when(body.get("created_at")),
        started_at=_when(body.get("started_at")),
        completed_at=_when(body.get("completed_at")),
    )
