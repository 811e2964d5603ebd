"""The paths of the GenerateMedia workflow whose histories the replay test keeps.

Each scenario is a request to the API plus what the test does while it runs; the same
list drives `make record-histories` (which records them) and documents what is covered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Scenario:
    name: str
    prompt: str
    parameters: dict[str, Any] = field(default_factory=dict)
    # Cancel the job as soon as it shows this status.
    cancel_when: str | None = None
    expected_status: str = "completed"
    # A prediction the job does not own names its webhook as soon as the job is submitted
    # (its `start` comes while the job's create hangs: kept on the row, then stopped).
    stray_start: bool = False


SCENARIOS = [
    Scenario(
        "success", "a lighthouse at dawn", {"width": 256, "height": 256, "output_format": "png"}
    ),
    Scenario("retried", "a flaky fox", {"fake": {"fail_create": 2, "fail_get": 1}}),
    Scenario(
        "permanent-failure",
        "a doomed fox",
        {"fake": {"fail_create": 100}},
        expected_status="failed",
    ),
    Scenario("user-error", "[nsfw] a fox", expected_status="failed"),
    Scenario(
        "rejected",
        "a rejected fox",
        {"fake": {"fail_create": 1, "create_status": 422}},
        expected_status="failed",
    ),
    Scenario(
        "canceled",
        "a slow fox",
        {"fake": {"latency": 60}},
        cancel_when="processing",
        expected_status="canceled",
    ),
    Scenario(
        "canceled-during-create",
        "a hesitant fox",
        {"fake": {"hang_create": 1, "hang_seconds": 2, "latency": 60}},
        cancel_when="pending",
        expected_status="canceled",
    ),
    Scenario("multi-output", "three owls", {"num_outputs": 3, "output_format": "webp"}),
    Scenario(
        "prediction-failed",
        "an unlucky fox",
        {"fake": {"outcome": "failed", "error": "CUDA out of memory"}},
        expected_status="failed",
    ),
    Scenario("lost-answer", "a fox whose create answer is lost", {"fake": {"lose_answer": 1}}),
    Scenario(
        "stray-start-while-creating",
        "a fox with a stray",
        {"fake": {"hang_create": 1, "hang_seconds": 3}},
        stray_start=True,
    ),
    Scenario(
        "output-gone",
        "a fox whose file expired",
        {"fake": {"fail_download": 100, "download_status": 404}},
        expected_status="failed",
    ),
]


@dataclass(frozen=True)
class UploadScenario:
    """An upload to `POST /api/v1/uploads`: which image (see `tests.replay.images`), the
    presets asked for, and what the test does while it runs."""

    name: str
    image: str
    presets: str = ""
    cancel_when: str | None = None
    expected_status: str = "completed"
    # Sent with a `webhook_url` (the recorder's receiver), which hears of the job's end.
    webhook: bool = False


UPLOAD_SCENARIOS = [
    UploadScenario("upload", "photo"),
    UploadScenario("upload-thumbnail-only", "photo", presets="thumbnail"),
    UploadScenario("upload-with-webhook", "photo", presets="thumbnail", webhook=True),
    UploadScenario("upload-truncated", "truncated", expected_status="failed"),
    UploadScenario(
        "upload-canceled", "large", cancel_when="processing", expected_status="canceled"
    ),
]
# Generate scenarios whose ProcessImage child (the variants of their images) is recorded too.
CHILD_SCENARIOS = ("success", "multi-output")
